public import Foundation
public import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// An upload's file, written to a spool file as it arrived; the store takes it over (moves it into place, or reads it
/// into its rows) and the route removes whatever is left.
public struct SpooledFile: Sendable {
    /// The spool file's path.
    public var path: String
    /// Bytes the part held (counted past the largest allowed size, though those bytes were not written).
    public var size: Int64

    /// Removes the spool file if it is still there (a store that moved it has left nothing to remove).
    public func discard() { unlink(path) }

    /// Removes spool files in `directory` last written more than `age` ago: what uploads cut off by a crash left
    /// (no upload outlives the request deadline, which starts before its file is made). Returns how many went.
    @discardableResult
    public static func removeLeftovers(in directory: String, olderThan age: Duration, now: Date = Date()) -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return 0 }
        let cutoff = now.timeIntervalSince1970 - Double(age.components.seconds)
        var removed = 0
        for name in names where name.hasSuffix(".part") {
            let path = directory + "/" + name
            var info = stat()
            guard stat(path, &info) == 0, Double(info.st_mtim.tv_sec) < cutoff else { continue }
            if unlink(path) == 0 { removed += 1 }
        }
        return removed
    }

    /// Up to `length` bytes of a spool file from `offset`, or nil at its end (`size`, what the file must hold).
    public static func chunk(of path: String, at offset: Int64, upTo length: Int, size: Int64) throws -> ByteBuffer? {
        guard offset < size else { return nil }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CocoaError(.fileReadNoSuchFile) }
        defer { close(fd) }
        let wanted = Int(min(Int64(length), size - offset))
        var buffer = ByteBufferAllocator().buffer(capacity: wanted)
        while buffer.readableBytes < wanted {
            let want = wanted - buffer.readableBytes
            let at = offset + Int64(buffer.readableBytes)
            var failure: Int32 = 0
            let got = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
                let count = pread(fd, raw.baseAddress!, want, off_t(at))
                if count < 0 { failure = errno }
                return max(count, 0)
            }
            if failure == EINTR { continue }
            // An error, or the file ended early: it is not the spool file the caller described.
            guard got > 0 else { throw CocoaError(.fileReadUnknown) }
        }
        return buffer
    }

    /// A spool file's bytes, read whole into one buffer; throws unless it holds exactly `size` bytes.
    public static func contents(of path: String, size: Int) throws -> ByteBuffer {
        let held = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
        guard held == size else { throw CocoaError(.fileReadUnknown) }
        return try chunk(of: path, at: 0, upTo: size, size: Int64(size)) ?? ByteBuffer()
    }
}

/// Reads a `POST /api/screenshots` body as it arrives: the `screenshot` part goes to a spool file, chunk by chunk, and
/// the small fields are kept in memory, so an upload holds one chunk of memory, not its whole body.
struct UploadReader {
    /// Where spool files are made (created 0700 when missing).
    var spoolDirectory: String
    /// Most bytes of the body as a whole.
    var bodyLimit: Int
    /// Most bytes of the file written: beyond it the part is only counted, and the service refuses it as too large.
    var fileLimit: Int
    /// Told the `clientId` as soon as its part is complete (before a file that follows it is read); throws to stop.
    var admit: (String) throws -> Void

    /// What the form held.
    struct Upload {
        var clientId: String?
        var fileType: String?
        var file: SpooledFile?
    }

    /// Most bytes kept of the `clientId` field (one is about 30).
    static let maxFieldBytes = 4096

    /// Reads `body` to its end. Throws `FeedbackError.malformedMultipart` for broken framing,
    /// `FeedbackError.screenshotIncomplete` when it ends inside the screenshot part, and `NIOTooManyBytesError` past
    /// `bodyLimit`; on any throw, no spool file is left behind.
    func read<Body: AsyncSequence>(_ body: Body, boundary: String) async throws -> Upload
    where Body.Element == ByteBuffer {
        var stream = MultipartStream(boundary: boundary)
        var upload = Upload()
        var received = 0
        var current: PartSink?
        var file: SpoolWriter?
        var finished = false
        var seenClientId = false
        defer {
            file?.abandon()
            if !finished { upload.file?.discard() }
        }
        for try await chunk in body {
            received += chunk.readableBytes
            guard received <= bodyLimit else { throw NIOTooManyBytesError(maxBytes: bodyLimit) }
            try stream.consume(chunk) { event in
                switch event {
                case .partBegan(let headers):
                    // One file and one client per request, nothing else: a second file would not be stored, and a
                    // second `clientId` or another field not read, each while the answer said success.
                    switch headers.name {
                    case "screenshot":
                        guard file == nil, upload.file == nil else {
                            throw Self.refused("screenshot", "One file per request: send each screenshot in a request of its own")
                        }
                        file = try SpoolWriter(directory: spoolDirectory, limit: fileLimit)
                        upload.fileType = headers.contentType
                        current = .file
                    case "clientId":
                        guard !seenClientId else {
                            throw Self.refused("clientId", "clientId is given more than once")
                        }
                        seenClientId = true
                        current = .clientId([])
                    case let name:
                        let shown = name.map { $0.unicodeScalars.count <= 64 && !$0.containsNUL ? $0 : "part" } ?? "part"
                        throw Self.refused(shown, "Unknown field: this request takes screenshot and clientId")
                    }
                case .bytes(let bytes):
                    switch current {
                    case .file: try file?.append(bytes)
                    case .clientId(var kept):
                        kept += bytes.readableBytesView.prefix(Self.maxFieldBytes - kept.count)
                        current = .clientId(kept)
                    case nil: break
                    }
                case .partEnded:
                    switch current {
                    case .file:
                        upload.file = try file?.finish()
                        file = nil
                    case .clientId(let kept):
                        let id = String(decoding: kept, as: UTF8.self)
                        upload.clientId = id
                        let trimmed = id.trimmingSurroundingWhitespace
                        if !trimmed.isEmpty { try admit(trimmed) }
                    case nil: break
                    }
                    current = nil
                }
            }
        }
        // A screenshot part still open when the body ended was never completed: its file is dropped (by the defer),
        // and the client told why, rather than that no screenshot was sent.
        if file != nil { throw FeedbackError.screenshotIncomplete }
        finished = true
        return upload
    }

    private enum PartSink {
        case file
        case clientId([UInt8])
    }

    /// A field of the form refused: 400 with the field named.
    static func refused(_ field: String, _ message: String) -> FeedbackError {
        .invalid(issues: [field: [message]])
    }
}

/// One spool file being written: 0600, a fresh name, removed unless finished.
private final class SpoolWriter {
    private var fd: Int32
    private let path: String
    private let limit: Int
    private var size: Int64 = 0

    init(directory: String, limit: Int) throws {
        // The data folder itself may not exist yet (on PostgreSQL nothing else needs it).
        if access(directory, F_OK) != 0 {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        path = directory + "/" + Identifiers.random(16) + ".part"
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        self.limit = limit
        guard fd >= 0 else { throw FileWrites.error(errno) }
    }

    /// Writes `bytes` while the file is within its limit; past it, only counts them.
    func append(_ bytes: ByteBuffer) throws {
        let writable = max(0, min(bytes.readableBytes, limit - Int(size)))
        size += Int64(bytes.readableBytes)
        guard writable > 0 else { return }
        try bytes.withUnsafeReadableBytes { raw in
            try FileWrites.writeAll(fd, UnsafeRawBufferPointer(rebasing: raw[..<writable]))
        }
    }

    /// Closes the file and hands it on (the caller now owns it).
    func finish() throws -> SpooledFile {
        let result = close(fd)
        fd = -1
        guard result == 0 else {
            unlink(path)
            throw FileWrites.error(errno)
        }
        return SpooledFile(path: path, size: size)
    }

    /// Closes and removes the file unless it was handed on.
    func abandon() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        unlink(path)
    }

    deinit { abandon() }
}

/// Writing files where a full disk must read as one (the 503 a full store answers), shared by the upload spool and
/// the SQLite store's screenshot files.
public enum FileWrites {
    /// Writes every byte to `fd`, retrying short and interrupted writes.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw error(errno) }
            offset += written
        }
    }

    /// The error for a failed write or sync: out of space for `ENOSPC` and `EDQUOT`.
    public static func error(_ code: Int32) -> CocoaError {
        CocoaError(code == ENOSPC || code == EDQUOT ? .fileWriteOutOfSpace : .fileWriteUnknown)
    }
}
