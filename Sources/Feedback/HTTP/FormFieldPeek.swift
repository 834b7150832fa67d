public import Hummingbird
import NIOCore

/// Reads one small text field of a `multipart/form-data` body without copying the other parts (a 10 MB screenshot
/// stays where it is): what the rate limit needs to know the `clientId` of an upload before the route runs.
public enum FormFieldPeek {
    /// The field's value, if the body is a form that has it within its first `maxBytes` bytes; nil otherwise
    /// (the route then answers whatever is wrong with the body).
    public static func value(of field: String, contentType: String?, body: ByteBuffer, maxBytes: Int = 256) -> String? {
        guard let form = try? MultipartForm(contentType: contentType, body: body), let part = form.part(named: field),
            part.bytes.readableBytes <= maxBytes
        else { return nil }
        return part.text
    }
}
