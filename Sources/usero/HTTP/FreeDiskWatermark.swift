import Feedback
import Foundation
import Hummingbird
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The free space on the filesystems that hold the store (the database's folder and `DATA_DIR`), from `statvfs`,
/// asked at most once a second. Bodies admitted since the last measurement are taken off it (`spend`), so a burst
/// of uploads within that second cannot pass the watermark together (the disk-full drill saw 40 MB of 1 MB uploads
/// go past an 8 MB watermark, filling the disk, when the cached figure was used as it was).
final class FreeDiskSpace: Sendable {
    /// Folders whose filesystems are watched (the nearest existing ancestor of each is asked).
    let folders: [String]
    /// How long one answer is reused.
    let maxAge: Duration
    /// Free bytes of the filesystem holding a folder (`statvfs`; tests give figures of their own).
    let measure: @Sendable (String) -> Int64?

    private let cached = Mutex<(at: ContinuousClock.Instant, bytes: Int64, spent: Int64)?>(nil)
    private let lastWarning = Mutex<ContinuousClock.Instant?>(nil)

    init(
        folders: [String], maxAge: Duration = .seconds(1),
        measure: @escaping @Sendable (String) -> Int64? = FreeDiskSpace.available(at:)
    ) {
        self.folders = folders
        self.maxAge = maxAge
        self.measure = measure
    }

    /// The smallest free space (bytes available to this user) of the watched filesystems; nil when none answers.
    func available(now: ContinuousClock.Instant = .now) -> Int64? {
        if let hit = cached.withLock({ $0 }), now - hit.at < maxAge { return max(0, hit.bytes - hit.spent) }
        let measured = folders.compactMap(measure).min()
        if let measured { cached.withLock { $0 = (now, measured, 0) } }
        return measured
    }

    /// Whether a body of `declared` bytes leaves at least `minimum` free once written (true when nothing answers);
    /// an admitted body is counted as written (`spend`).
    func admits(declared: Int64, keepingFree minimum: Int64) -> Bool {
        if let free = available(), free < minimum + declared { return false }
        spend(declared)
        return true
    }

    /// Counts `bytes` as written until the next measurement (which sees them on disk).
    func spend(_ bytes: Int64) {
        cached.withLock { hit in
            if let current = hit { hit = (current.at, current.bytes, current.spent.addingReportingOverflow(bytes).partialValue) }
        }
    }

    /// True at most once a minute: a full disk is worth one log line a minute, not one per refused request.
    func shouldWarn(now: ContinuousClock.Instant = .now) -> Bool {
        lastWarning.withLock { last in
            if let last, now - last < .seconds(60) { return false }
            last = now
            return true
        }
    }

    static func available(at folder: String) -> Int64? {
        var path = URL(fileURLWithPath: folder).standardizedFileURL.path
        for _ in 0..<64 {
            var info = statvfs()
            if statvfs(path, &info) == 0 {
                let (product, overflow) = Int64(clamping: info.f_bavail).multipliedReportingOverflow(
                    by: Int64(clamping: info.f_frsize))
                return overflow ? Int64.max : product
            }
            let parent = (path as NSString).deletingLastPathComponent
            if parent == path || parent.isEmpty { return nil }
            path = parent
        }
        return nil
    }
}

/// Below the free-disk watermark, the public write routes answer 503 `{"error":"Storage is nearly full"}` with
/// `Retry-After` before reading the body, so a filling disk refuses new data cleanly instead of failing half-way.
///
/// Reads, the admin API (deleting frees space) and Slack's routes are not held back: a Slack write that meets a full
/// disk fails whole and answers 503 as well (see `ErrorMapping.storage`), and Slack retries it.
struct FreeDiskWatermarkMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    /// The public write routes, and the largest body each takes.
    static let routes: [String: Int] = [
        "/api/feedback": PublicRoutes<Context>.jsonLimit,
        "/api/identify": PublicRoutes<Context>.jsonLimit,
        "/api/screenshots": PublicRoutes<Context>.uploadLimit,
    ]

    let space: FreeDiskSpace
    let minimumFreeBytes: Int64

    /// nil when the check is off (`0`).
    init?(
        minimumFreeBytes: Int64, folders: [String],
        measure: @escaping @Sendable (String) -> Int64? = FreeDiskSpace.available(at:)
    ) {
        guard minimumFreeBytes > 0 else { return nil }
        self.minimumFreeBytes = minimumFreeBytes
        space = FreeDiskSpace(folders: folders, measure: measure)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard request.method == .post, let path = context.endpointPath, let limit = Self.routes[path] else {
            return try await next(request, context)
        }
        // The declared body counts too: a 10 MB upload must leave the watermark free after it is written. A body
        // declared larger than the route ever takes is the client's mistake whatever the disk holds: 413 at once.
        // A body sent in chunks declares no length: it counts as the most the route takes, or a burst of chunked
        // uploads passed the watermark together as the cached figure's 0 bytes (found by a review).
        let declared =
            request.headers[.contentLength].flatMap { Int64($0) }.map { min(max($0, 0), 1 << 40) } ?? Int64(limit)
        if declared > Int64(limit) {
            var response = ErrorMiddleware<Context>.response(
                for: HTTPError(.contentTooLarge), request: request, logger: context.logger)
            PublicCORSMiddleware<Context>.addHeaders(to: &response, preflight: false)
            return response
        }
        if !space.admits(declared: declared, keepingFree: minimumFreeBytes) {
            if space.shouldWarn() {
                context.logger.warning(
                    "Storage nearly full: public writes answer 503 until more than USERO_MIN_FREE_DISK_MB is free",
                    metadata: ["disk.free_bytes": "\(space.available() ?? 0)", "disk.min_free_bytes": "\(minimumFreeBytes)"])
            }
            var response = ErrorMiddleware<Context>.response(
                for: StorageFull(), request: request, logger: context.logger)
            PublicCORSMiddleware<Context>.addHeaders(to: &response, preflight: false)
            return response
        }
        return try await next(request, context)
    }
}
