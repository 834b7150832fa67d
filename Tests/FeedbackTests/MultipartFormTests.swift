@testable import Feedback
import NIOCore
import Testing

/// The multipart framing the upload route reads (multipart-kit's rules, without its copies).
@Suite struct MultipartFormTests {
    static let type = "multipart/form-data; boundary=XyZ"

    func form(_ text: String) throws(FeedbackError) -> MultipartForm {
        try MultipartForm(contentType: Self.type, body: ByteBuffer(string: text))
    }

    @Test func partsAreReadWithTheirHeadersAndBytes() throws {
        let f = try form(
            "--XyZ\r\nContent-Disposition: form-data; name=\"clientId\"\r\n\r\nclient_a\r\n"
                + "--XyZ\r\nContent-Disposition: form-data; name=\"screenshot\"; filename=\"s.png\"\r\n"
                + "Content-Type:   image/png\r\n\r\n\r\n--Xy\r\r\n\r\n--XyZ--\r\nepilogue --XyZ\r\nBad name")
        #expect(f.parts.count == 2)
        #expect(f.part(named: "clientId")?.text == "client_a")
        let shot = try #require(f.part(named: "screenshot"))
        #expect(shot.fileName == "s.png")
        #expect(shot.contentType == "image/png")
        // A delimiter's prefix inside the part is part of it.
        #expect(shot.text == "\r\n--Xy\r\r\n")
    }

    @Test func aPreambleIsSkippedAndAnUnfinishedPartDropped() throws {
        let f = try form("preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ\r\n"
            + "Content-Disposition: form-data; name=\"b\"\r\n\r\nno end")
        #expect(f.parts.map(\.name) == ["a"])
    }

    @Test(arguments: [
        "--XyZ\r\nBad Name: x\r\n\r\nv\r\n--XyZ--",
        "--XyZ\r\nNo colon\r\n\r\nv\r\n--XyZ--",
        "--XyZ\r\n: empty name\r\n\r\nv\r\n--XyZ--",
        "--XyZx\r\n\r\nv\r\n--XyZ--",
        "--XyZ\r\nN\u{e9}: x\r\n\r\nv\r\n--XyZ--",
    ])
    func malformedFramingIsRefused(body: String) {
        #expect(throws: FeedbackError.malformedMultipart) { try form(body) }
    }

    /// Media types and parameter names are case-insensitive, and a boundary may be quoted (.NET's `HttpClient` quotes
    /// it): each spelling reads the same parts.
    @Test(arguments: [
        "multipart/form-data; boundary=\"XyZ\"", "Multipart/Form-Data; Boundary=XyZ", "MULTIPART/FORM-DATA;boundary=XyZ",
    ])
    func anyCaseAndAQuotedBoundaryReadTheSameParts(contentType: String) throws {
        #expect(MultipartForm.boundary(of: contentType) == "XyZ")
        let f = try MultipartForm(
            contentType: contentType,
            body: ByteBuffer(string: "--XyZ\r\nContent-Disposition: form-data; NAME=\"clientId\"\r\n\r\nclient_a\r\n--XyZ--"))
        #expect(f.part(named: "clientId")?.text == "client_a")
    }

    @Test func aPartIsASliceOfTheBodyNotACopy() throws {
        var file = [UInt8](repeating: 13, count: 100_000)  // CRs: where multipart-kit cut and copied
        file += Array("\r\n--X".utf8)
        var body = ByteBuffer(string: "--XyZ\r\nContent-Disposition: form-data; name=\"screenshot\"\r\n\r\n")
        body.writeBytes(file)
        body.writeString("\r\n--XyZ--\r\n")
        let f = try MultipartForm(contentType: Self.type, body: body)
        let part = try #require(f.part(named: "screenshot"))
        #expect(Array(part.bytes.readableBytesView) == file)
        let bodyStart = body.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        let partStart = part.bytes.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(partStart > bodyStart && partStart < bodyStart + UInt(body.readableBytes))
    }
}
