@testable import Feedback
import NIOCore
import Testing

/// The framing read as the body arrives: whatever the chunks, the same parts as the body read whole, and never more
/// than a few bytes held between chunks.
@Suite struct MultipartStreamTests {
    /// What a stream found: each complete part's name and bytes, in order.
    static func parts(of body: [UInt8], boundary: String, cuts: [Int]) throws -> [(String?, [UInt8])] {
        var stream = MultipartStream(boundary: boundary)
        var found: [(String?, [UInt8])] = []
        var current: (String?, [UInt8])?
        var start = 0
        for end in cuts + [body.count] where end >= start {
            try stream.consume(ByteBuffer(bytes: body[start..<end])) { event in
                switch event {
                case .partBegan(let headers): current = (headers.name, [])
                case .bytes(let bytes): current?.1 += Array(bytes.readableBytesView)
                case .partEnded:
                    if let part = current { found.append(part) }
                    current = nil
                }
            }
            start = end
        }
        return found
    }

    static let bodies: [String] = [
        "--XyZ\r\nContent-Disposition: form-data; name=\"clientId\"\r\n\r\nclient_a\r\n"
            + "--XyZ\r\nContent-Disposition: form-data; name=\"screenshot\"; filename=\"s.png\"\r\n"
            + "Content-Type:   image/png\r\n\r\n\r\n--Xy\r\r\n\r\n--XyZ--\r\nepilogue --XyZ\r\nBad name",
        "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ\r\n"
            + "Content-Disposition: form-data; name=\"b\"\r\n\r\nno end",
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\r\r\r\n-\r\n--\r\n--X\r\n--XyZ\r\n"
            + "Content-Disposition: form-data; name=\"b\"\r\n\r\n\r\n--XyZ--",
        "\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n--XyZ\r\n--XyZ--",
    ]

    @Test(arguments: 0..<bodies.count)
    func everySplitOfTheBodyGivesThePartsOfTheWholeBody(index: Int) throws {
        let body = Array(Self.bodies[index].utf8)
        let whole = try MultipartForm(contentType: "multipart/form-data; boundary=XyZ", body: ByteBuffer(bytes: body))
        let expected = whole.parts.map { ($0.name, Array($0.bytes.readableBytesView)) }
        #expect(!expected.isEmpty)
        for first in 0...body.count {
            for second in stride(from: first, through: body.count, by: 7) {
                let got = try Self.parts(of: body, boundary: "XyZ", cuts: [first, second])
                #expect(got.map(\.0) == expected.map(\.0), "cut at \(first), \(second)")
                #expect(got.map(\.1) == expected.map(\.1), "cut at \(first), \(second)")
            }
        }
    }

    @Test func oneByteAtATimeGivesTheSameParts() throws {
        for text in Self.bodies {
            let body = Array(text.utf8)
            let whole = try MultipartForm(contentType: "multipart/form-data; boundary=XyZ", body: ByteBuffer(bytes: body))
            let got = try Self.parts(of: body, boundary: "XyZ", cuts: Array(1..<body.count))
            #expect(got.map(\.1) == whole.parts.map { Array($0.bytes.readableBytesView) })
        }
    }

    @Test func aLargeFileArrivesInPiecesThatAreSlicesOfTheirChunks() throws {
        // CRs and near-delimiters throughout, as in an image.
        var file: [UInt8] = []
        for i in 0..<200_000 { file.append(i % 97 == 0 ? 13 : UInt8(truncatingIfNeeded: i &* 31)) }
        file += Array("\r\n--Xy".utf8)
        var body = Array("--XyZ\r\nContent-Disposition: form-data; name=\"screenshot\"\r\n\r\n".utf8)
        body += file
        body += Array("\r\n--XyZ--\r\n".utf8)
        let got = try Self.parts(of: body, boundary: "XyZ", cuts: Array(stride(from: 8192, to: body.count, by: 8192)))
        #expect(got.count == 1)
        #expect(got.first?.1 == file)
    }

    @Test func headersWithoutEndAreRefusedOnceTheyPassTheirLimit() {
        var stream = MultipartStream(boundary: "b")
        let start = ByteBuffer(string: "--b\r\nX-Long: ")
        let filler = ByteBuffer(repeating: UInt8(ascii: "a"), count: 4096)
        #expect(throws: FeedbackError.malformedMultipart) {
            try stream.consume(start) { _ in }
            for _ in 0..<5 { try stream.consume(filler) { _ in } }
        }
    }

    /// The limit holds for a part's headers together, not only for one unfinished line: many short lines, even
    /// with their blank line in the same chunk, are refused too.
    @Test func manyShortHeaderLinesAreRefusedOnceTheyPassTheLimit() {
        let line = "X-Pad: " + String(repeating: "a", count: 100) + "\r\n"
        let lines = String(repeating: line, count: MultipartStream.maxHeaderBytes / line.utf8.count + 1)
        var stream = MultipartStream(boundary: "b")
        #expect(throws: FeedbackError.malformedMultipart) {
            try stream.consume(ByteBuffer(string: "--b\r\n" + lines + "\r\nv\r\n--b--")) { _ in }
        }
    }

    @Test(arguments: [
        "--XyZ\r\nBad Name: x\r\n\r\nv\r\n--XyZ--",
        "--XyZ\r\nNo colon\r\n\r\nv\r\n--XyZ--",
        "--XyZx\r\n\r\nv\r\n--XyZ--",
        "--XyZ\r\nN\u{e9}: x\r\n\r\nv\r\n--XyZ--",
    ])
    func malformedFramingIsRefusedWhateverTheChunks(body: String) {
        let bytes = Array(body.utf8)
        for cut in 0...bytes.count {
            #expect(throws: FeedbackError.malformedMultipart) {
                _ = try Self.parts(of: bytes, boundary: "XyZ", cuts: [cut])
            }
        }
    }
}
