public import Foundation
import Logging
import NIOCore

/// The rules of the feedback API, with no HTTP in sight.
public struct FeedbackService: Sendable {
    /// The store.
    public let store: any FeedbackStore
    /// The time source.
    public let clock: any WallClock
    /// External base URL, for screenshot URLs.
    public let publicURL: String
    /// Most bytes of screenshots a client may hold that no feedback item has claimed yet; 0: no quota.
    public let uploadQuotaBytes: Int64
    private let parser = SubmissionParser()

    /// Largest screenshot file (10 MB).
    public static let maxScreenshotBytes = 10 * 1024 * 1024

    /// Whether an upload declared as `type` may be an image, which its bytes then decide: any `image/*`, and the
    /// types that say nothing of the content (none, or `application/octet-stream`), which curl gives a `.webp`,
    /// `.avif` or `.heic` file and browsers a file whose type they do not know. A type naming something else
    /// (`text/plain`) is refused whatever the bytes.
    static func mayBeAnImage(_ type: String) -> Bool {
        let essence = String(type.prefix { $0 != ";" }).trimmingSurroundingWhitespace.lowercased()
        return essence.hasPrefix("image/") || essence.isEmpty || essence == "application/octet-stream"
    }

    /// Creates the service.
    public init(store: any FeedbackStore, clock: any WallClock, publicURL: String, uploadQuotaBytes: Int64 = 0) {
        self.uploadQuotaBytes = uploadQuotaBytes
        self.store = store
        self.clock = clock
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
    }

    /// Validates and stores one submission; returns the stored item once it is durable.
    /// `idempotencyKey`: the request's `Idempotency-Key` header, if any (see `SubmissionKey`).
    public func submit(
        body: some Collection<UInt8>, context: SubmissionParser.Context, origin: String?, idempotencyKey: String? = nil
    ) async throws -> FeedbackItem {
        guard let idempotencyKey else { return try await insert(parser.parse(body, context: context), origin: origin) }
        // The key's content is the body's fields as sent: the same body sent again is the same submission whatever
        // page it is sent from (the `Referer` that stands in for a missing `pageUrl`) and whatever the uploads it
        // names say by then.
        var draft = try parser.parse(body, context: SubmissionParser.Context(isWidget: context.isWidget, referer: nil))
        guard let key = SubmissionKey(header: idempotencyKey, draft: draft) else {
            throw FeedbackError.invalidSubmissionKey
        }
        draft.submissionKey = key
        if draft.pageUrl == nil { draft.pageUrl = SubmissionParser.pageURL(fromReferer: context.referer) }
        return try await insert(draft, origin: origin)
    }

    /// Stores a parsed submission, its screenshot objects made what their uploads say.
    private func insert(_ parsed: FeedbackDraft, origin: String?) async throws -> FeedbackItem {
        var draft = parsed
        if !draft.screenshots.isEmpty {
            draft.screenshots = try await uploadedScreenshots(draft.screenshots, clientID: draft.clientId)
        }
        return try await store.insert(draft, at: clock.now(), origin: origin)
    }

    /// The screenshot objects of a submission, each that names a stored upload of this client as that upload says.
    /// An object is meant to be what `POST /api/screenshots` answered, but comes from the client: the item an admin
    /// reads (through the API, an export, the inbox) must not give a real upload a URL, size, type or dimensions of
    /// the sender's choosing. An object naming no upload of the client stays as sent (the developer docs' own
    /// example names one), within the parser's bounds.
    private func uploadedScreenshots(_ sent: [ScreenshotRef], clientID: String) async throws -> [ScreenshotRef] {
        var result: [ScreenshotRef] = []
        for shot in sent {
            if let stored = try await store.screenshot(fileName: shot.fileName), stored.clientId == clientID {
                result.append(screenshotObject(stored))
            } else {
                result.append(shot)
            }
        }
        return result
    }

    /// The screenshot object of a stored upload, as `POST /api/screenshots` answers it.
    func screenshotObject(_ stored: StoredScreenshot) -> ScreenshotRef {
        ScreenshotRef(
            fileName: stored.fileName, url: "\(publicURL)/api/screenshots/\(stored.fileName)",
            fileSize: stored.fileSize, mimeType: stored.mimeType, width: stored.width, height: stored.height)
    }


    /// Stores an uploaded image after checking it by its bytes; returns the screenshot object to attach. An empty
    /// `screenshot` part is no file: it is what a browser sends for a file input left empty.
    public func uploadScreenshot(clientId: String?, declaredType: String?, bytes: [UInt8]?, origin: String?)
        async throws -> ScreenshotRef
    {
        guard var bytes, !bytes.isEmpty else { throw FeedbackError.screenshotMissing }
        return try await accept(
            clientId: clientId, declaredType: declaredType, size: Int64(bytes.count), origin: origin,
            sniff: { ImageInfo.sniff(bytes) },
            strip: { info in
                if let stripped = ImageMetadata.stripped(bytes, mimeType: info.mimeType) { bytes = stripped }
                return Int64(bytes.count)
            },
            save: { try await store.saveScreenshot($0, bytes: bytes, quota: uploadQuotaBytes) })
    }

    /// Stores an uploaded image the route spooled to a file as it arrived, after checking it by its bytes; the store
    /// takes the file over (the caller removes whatever is left of it). Returns the screenshot object to attach.
    public func uploadScreenshot(clientId: String?, declaredType: String?, spooled: SpooledFile?, origin: String?)
        async throws -> ScreenshotRef
    {
        guard let spooled, spooled.size > 0 else { throw FeedbackError.screenshotMissing }
        return try await accept(
            clientId: clientId, declaredType: declaredType, size: spooled.size, origin: origin,
            sniff: { ImageInfo.sniff(fileAt: spooled.path) },
            strip: { info in try ImageMetadata.strip(fileAt: spooled.path, mimeType: info.mimeType) ?? spooled.size },
            save: { try await store.saveScreenshot($0, spooledFile: spooled.path, quota: uploadQuotaBytes) })
    }

    /// The rules every upload meets, in the order its errors are reported, then the image's metadata taken out
    /// (`strip` answers the size left; `ImageMetadata`), the quota and the save.
    private func accept(
        clientId: String?, declaredType: String?, size: Int64, origin: String?, sniff: () -> ImageInfo?,
        strip: (ImageInfo) throws -> Int64, save: (StoredScreenshot) async throws -> Void
    ) async throws -> ScreenshotRef {
        guard let clientId, !clientId.isEmpty else { throw FeedbackError.clientIDMissing }
        guard size <= Int64(Self.maxScreenshotBytes) else { throw FeedbackError.fileTooLarge }
        if let declaredType, !Self.mayBeAnImage(declaredType) { throw FeedbackError.notAnImage }
        guard let info = sniff() else { throw FeedbackError.notAnImage }
        let client = try await store.requireClient(clientId, origin: origin)
        let size = try strip(info)
        let now = clock.now()
        let fileName = "\(client.id)/\(epochMillis(now))-\(Identifiers.random(8)).\(info.fileExtension)"
        let stored = StoredScreenshot(
            fileName: fileName, clientId: client.id, mimeType: info.mimeType, fileSize: size,
            width: info.width, height: info.height, createdAt: now)
        if uploadQuotaBytes > 0 {
            // Refused early when the stored ones alone leave no room; the store checks again, exactly, in the
            // transaction that inserts the record (concurrent uploads, on any instance, cannot pass it together).
            let held = try await store.unattachedScreenshotBytes(clientID: client.id)
            guard held.addingReportingOverflow(stored.fileSize).partialValue <= uploadQuotaBytes else {
                throw FeedbackError.uploadQuotaExceeded(megabytes: uploadQuotaBytes / (1024 * 1024))
            }
        }
        try await save(stored)
        return screenshotObject(stored)
    }

    /// Where a stored screenshot's bytes are: a file to stream from, or the bytes themselves.
    public enum ScreenshotContents: Sendable {
        case file(path: String, size: Int64)
        case bytes(Data)
        case pieces(ScreenshotPieces, size: Int64)

        /// The bytes themselves, read whole (for tests and small tools, not the download route).
        public func data() async throws -> Data {
            switch self {
            case .file(let path, _): return try Data(contentsOf: URL(fileURLWithPath: path))
            case .bytes(let data): return data
            case .pieces(let pieces, _):
                var data = Data()
                for index in 0..<pieces.count {
                    guard let piece = try await pieces.fetch(index) else { throw CocoaError(.fileReadNoSuchFile) }
                    data.append(contentsOf: piece.readableBytesView)
                }
                return data
            }
        }
    }

    /// The bytes (or the file holding them) and type of a stored screenshot, or nil for anything that is not one.
    public func screenshotFile(clientId: String, file: String) async throws
        -> (contents: ScreenshotContents, mimeType: String)?
    {
        let fileName = "\(clientId)/\(file)"
        guard ScreenshotName.isValid(fileName),
            let stored = try await store.screenshot(fileName: fileName), stored.clientId == clientId
        else { return nil }
        if let path = try await store.screenshotFilePath(fileName: fileName) {
            return (.file(path: path, size: stored.fileSize), stored.mimeType)
        }
        if let pieces = try await store.screenshotPieces(fileName: fileName) {
            return (.pieces(pieces, size: stored.fileSize), stored.mimeType)
        }
        guard let bytes = try await store.screenshotBytes(fileName: fileName) else { return nil }
        return (.bytes(bytes), stored.mimeType)
    }
}
