public import Foundation
import Logging

/// The rules of the feedback API, with no HTTP in sight.
public struct FeedbackService: Sendable {
    /// The store.
    public let store: any FeedbackStore
    /// The time source.
    public let clock: any WallClock
    /// External base URL, for screenshot URLs.
    public let publicURL: String
    private let parser = SubmissionParser()

    /// Largest screenshot file (10 MB).
    public static let maxScreenshotBytes = 10 * 1024 * 1024

    /// Creates the service.
    public init(store: any FeedbackStore, clock: any WallClock, publicURL: String) {
        self.store = store
        self.clock = clock
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
    }

    /// Validates and stores one submission; returns the stored item once it is durable.
    public func submit(body: some Collection<UInt8>, context: SubmissionParser.Context, origin: String?) async throws
        -> FeedbackItem
    {
        let draft = try parser.parse(body, context: context)
        return try await store.insert(draft, at: clock.now(), origin: origin)
    }


    /// Stores an uploaded image after checking it by its bytes; returns the screenshot object to attach.
    public func uploadScreenshot(clientId: String?, declaredType: String?, bytes: [UInt8]?, origin: String?)
        async throws -> ScreenshotRef
    {
        guard let bytes else { throw FeedbackError.screenshotMissing }
        guard let clientId, !clientId.isEmpty else { throw FeedbackError.clientIDMissing }
        guard bytes.count <= Self.maxScreenshotBytes else { throw FeedbackError.fileTooLarge }
        if let declaredType, !declaredType.lowercased().hasPrefix("image/") { throw FeedbackError.notAnImage }
        guard let info = ImageInfo.sniff(bytes) else { throw FeedbackError.notAnImage }
        let client = try await store.requireClient(clientId, origin: origin)
        let now = clock.now()
        let fileName = "\(client.id)/\(epochMillis(now))-\(Identifiers.random(8)).\(info.fileExtension)"
        let stored = StoredScreenshot(
            fileName: fileName, clientId: client.id, mimeType: info.mimeType, fileSize: Int64(bytes.count),
            width: info.width, height: info.height, createdAt: now)
        try await store.saveScreenshot(stored, bytes: bytes)
        return ScreenshotRef(
            fileName: fileName, url: "\(publicURL)/api/screenshots/\(fileName)", fileSize: stored.fileSize,
            mimeType: info.mimeType, width: info.width, height: info.height)
    }

    /// The bytes and type of a stored screenshot, or nil for anything that is not one.
    public func screenshotFile(clientId: String, file: String) async throws -> (bytes: Data, mimeType: String)? {
        let fileName = "\(clientId)/\(file)"
        guard ScreenshotName.isValid(fileName),
            let stored = try await store.screenshot(fileName: fileName), stored.clientId == clientId,
            let bytes = try await store.screenshotBytes(fileName: fileName)
        else { return nil }
        return (bytes, stored.mimeType)
    }
}
