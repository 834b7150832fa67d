@testable import Feedback
import Foundation
import NIOCore
import Testing
import UseroTestSupport

/// An upload read as it arrives: the file goes to a spool file, the small fields stay in memory, and nothing is left
/// in the spool folder by an upload that fails.
@Suite struct UploadReaderTests {
    struct Chunks: AsyncSequence {
        typealias Element = ByteBuffer
        var chunks: [ByteBuffer]
        struct AsyncIterator: AsyncIteratorProtocol {
            var rest: [ByteBuffer]
            mutating func next() async throws -> ByteBuffer? { rest.isEmpty ? nil : rest.removeFirst() }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(rest: chunks) }

        /// `body` cut every `size` bytes.
        init(_ body: [UInt8], size: Int) {
            chunks = stride(from: 0, to: body.count, by: size).map { ByteBuffer(bytes: body[$0..<Swift.min($0 + size, body.count)]) }
        }
    }

    static func form(file: [UInt8], clientId: String?, clientIdFirst: Bool = false, closed: Bool = true) -> [UInt8] {
        var body: [UInt8] = []
        let field = clientId.map { Array("--b\r\nContent-Disposition: form-data; name=\"clientId\"\r\n\r\n\($0)\r\n".utf8) } ?? []
        if clientIdFirst { body += field }
        body += Array("--b\r\nContent-Disposition: form-data; name=\"screenshot\"; filename=\"s.png\"\r\nContent-Type: image/png\r\n\r\n".utf8)
        body += file
        guard closed else { return body }
        body += Array("\r\n".utf8)
        if !clientIdFirst { body += field }
        body += Array("--b--\r\n".utf8)
        return body
    }

    static func file(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) } }

    let folder = TestFolders.path("spool").appendingPathComponent("data/incoming").path

    func leftovers() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] }

    func reader(bodyLimit: Int = 1 << 20, fileLimit: Int = 1 << 19, admit: @escaping (String) throws -> Void = { _ in })
        -> UploadReader
    {
        UploadReader(spoolDirectory: folder, bodyLimit: bodyLimit, fileLimit: fileLimit, admit: admit)
    }

    @Test func theFileIsSpooledWholeAndTheClientIdKeptAndAdmittedTrimmed() async throws {
        let file = Self.file(300_000)
        var admitted: [String] = []
        let upload = try await reader(admit: { admitted.append($0) })
            .read(Chunks(Self.form(file: file, clientId: " client_a\n"), size: 4099), boundary: "b")
        let spooled = try #require(upload.file)
        defer { spooled.discard() }
        #expect(spooled.size == Int64(file.count))
        #expect(Array(try SpooledFile.contents(of: spooled.path, size: file.count).readableBytesView) == file)
        #expect(upload.clientId == " client_a\n")
        #expect(upload.fileType == "image/png")
        #expect(admitted == ["client_a"])
        // Only the owner may read it.
        let mode = try FileManager.default.attributesOfItem(atPath: spooled.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test(arguments: [true, false])
    func aRefusedClientLeavesNoSpoolFile(clientIdFirst: Bool) async throws {
        struct Refused: Error {}
        await #expect(throws: Refused.self) {
            try await reader(admit: { _ in throw Refused() })
                .read(Chunks(Self.form(file: Self.file(50_000), clientId: "c", clientIdFirst: clientIdFirst), size: 1000), boundary: "b")
        }
        #expect(leftovers() == [])
    }

    @Test func aBodyPastItsLimitStopsAndLeavesNoSpoolFile() async throws {
        await #expect(throws: NIOTooManyBytesError.self) {
            try await reader(bodyLimit: 100_000)
                .read(Chunks(Self.form(file: Self.file(200_000), clientId: "c"), size: 8192), boundary: "b")
        }
        #expect(leftovers() == [])
    }

    /// The body limit is exact: a body of just the limit is read, and one a few bytes over it is refused as too
    /// large (a 413) however it is cut into fragments, leaving no spool file.
    @Test func aBodyOfExactlyItsLimitIsReadAndOneAFewBytesOverIsRefused() async throws {
        let body = Self.form(file: Self.file(30_000), clientId: "c")
        let upload = try await reader(bodyLimit: body.count).read(Chunks(body, size: 4096), boundary: "b")
        let spooled = try #require(upload.file)
        spooled.discard()
        #expect(spooled.size == 30_000)

        for size in [1000, 4096, body.count] {
            await #expect(throws: NIOTooManyBytesError.self, "fragments of \(size)") {
                try await reader(bodyLimit: body.count - 3).read(Chunks(body, size: size), boundary: "b")
            }
        }
        #expect(leftovers() == [])
    }

    @Test func aFilePastItsLimitIsCountedButNotWritten() async throws {
        let upload = try await reader(fileLimit: 10_000)
            .read(Chunks(Self.form(file: Self.file(25_000), clientId: "c"), size: 3000), boundary: "b")
        let spooled = try #require(upload.file)
        defer { spooled.discard() }
        #expect(spooled.size == 25_000)
        let written = try FileManager.default.attributesOfItem(atPath: spooled.path)[.size] as? Int
        #expect(written == 10_000)
    }

    @Test func aScreenshotPartTheBodyNeverClosedIsRefusedAndItsFileDropped() async throws {
        await #expect(throws: FeedbackError.screenshotIncomplete) {
            _ = try await reader()
                .read(Chunks(Self.form(file: Self.file(20_000), clientId: "c", clientIdFirst: true, closed: false), size: 512), boundary: "b")
        }
        #expect(leftovers() == [])
    }

    /// One file and one client per request, and nothing else: a form repeating `screenshot` or `clientId`, or with
    /// a field of its own, is refused naming it (an outside review had a second file and another field answered 200,
    /// the file not stored, the field not read), and a file begun leaves nothing in the spool folder.
    @Test(arguments: [
        ("clientId", ["clientId", "screenshot", "clientId"]), ("screenshot", ["clientId", "screenshot", "screenshot"]),
        ("note", ["clientId", "screenshot", "note"]), ("note", ["note", "clientId", "screenshot"]),
    ])
    func aRepeatedOrUnknownPartIsRefusedAndLeavesNoSpoolFile(refused: String, parts: [String]) async throws {
        func part(_ name: String) -> [UInt8] {
            let bytes = name == "screenshot" ? Self.file(20_000) : Array("client_a".utf8)
            return Array("--b\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n".utf8) + bytes + Array("\r\n".utf8)
        }
        let body = parts.flatMap(part) + Array("--b--\r\n".utf8)
        await #expect(throws: FeedbackError.invalid(issues: [refused: [Self.refusal(refused)]])) {
            _ = try await reader().read(Chunks(body, size: 5000), boundary: "b")
        }
        #expect(leftovers() == [])
    }

    static func refusal(_ field: String) -> String {
        switch field {
        case "screenshot": "One file per request: send each screenshot in a request of its own"
        case "clientId": "clientId is given more than once"
        default: "Unknown field: this request takes screenshot and clientId"
        }
    }

    @Test func aSpoolFileIsReadBackOnlyWhenItHoldsExactlyItsSize() throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/ten.part"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(Self.file(10))))
        #expect(Array(try SpooledFile.contents(of: path, size: 10).readableBytesView) == Self.file(10))
        #expect(throws: (any Error).self) { try SpooledFile.contents(of: path, size: 11) }
        #expect(throws: (any Error).self) { try SpooledFile.contents(of: path, size: 9) }
        #expect(throws: (any Error).self) { try SpooledFile.contents(of: folder + "/missing.part", size: 1) }
    }

    @Test func leftoversOlderThanTheDeadlineAreRemovedAndFreshOnesKept() throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let old = folder + "/old.part", fresh = folder + "/fresh.part", other = folder + "/note.txt"
        for path in [old, fresh, other] { #expect(FileManager.default.createFile(atPath: path, contents: Data([1]))) }
        let hourAgo = Date().addingTimeInterval(-3600)
        try FileManager.default.setAttributes([.modificationDate: hourAgo], ofItemAtPath: old)
        try FileManager.default.setAttributes([.modificationDate: hourAgo], ofItemAtPath: other)
        #expect(SpooledFile.removeLeftovers(in: folder, olderThan: .seconds(600)) == 1)
        #expect(leftovers().sorted() == ["fresh.part", "note.txt"])
    }
}
