public import Hummingbird
import MultipartKit
import NIOCore

/// Reads one small text field of a `multipart/form-data` body without copying the other parts (a 10 MB screenshot
/// stays where it is): what the rate limit needs to know the `clientId` of an upload before the route runs.
public enum FormFieldPeek {
    /// The field's value, if the body is a form that has it within its first `maxBytes` bytes; nil otherwise
    /// (the route then answers whatever is wrong with the body).
    public static func value(of field: String, contentType: String?, body: ByteBuffer, maxBytes: Int = 256) -> String? {
        guard let contentType, let boundary = MultipartForm.boundary(of: contentType),
            body.withUnsafeReadableBytes({ MultipartForm.headersAreASCII($0, boundary: boundary) })
        else { return nil }
        let parser = MultipartParser(boundary: boundary)
        var inField = false
        var tooLong = false
        var value: [UInt8] = []
        var found: [UInt8]?
        parser.onHeader = { name, header in
            if name.lowercased() == "content-disposition" {
                inField = found == nil && MultipartForm.parameter("name", in: header) == field
            }
        }
        parser.onBody = { buffer in
            guard inField else { return }
            if value.count + buffer.readableBytes > maxBytes {
                tooLong = true
            } else {
                value.append(contentsOf: buffer.readableBytesView)
            }
        }
        parser.onPartComplete = {
            if inField && !tooLong { found = value }
            inField = false
            tooLong = false
            value = []
        }
        try? parser.execute(body)
        return found.map { String(decoding: $0, as: UTF8.self) }
    }
}
