import Logging

/// `StreamLogHandler`'s lines, with the logger's metadata formatted when a line is written rather than whenever it
/// is set.
///
/// `StreamLogHandler` formats all of its metadata again on every change. Hummingbird sets `hb.request.id` on each
/// request's logger, so every request paid for formatting its id (about 3 % of a request's CPU in the profiles in
/// BENCHMARKS.md) though almost no request writes a line at `info`. Here setting metadata only stores it; a line
/// that is written merges it with the call's own metadata and hands both to `StreamLogHandler`, which prints what
/// it printed before (keys sorted, the call's values winning).
struct StderrLogHandler: LogHandler {
    private var stream: StreamLogHandler
    var metadata: Logger.Metadata = [:]

    init(label: String) {
        stream = StreamLogHandler.standardError(label: label, metadataProvider: nil)
    }

    /// For tests: the same lines into `stream`.
    init(label: String, stream: any TextOutputStream & Sendable) {
        self.stream = StreamLogHandler(label: label, stream: stream, metadataProvider: nil)
    }

    var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        guard !metadata.isEmpty else { return stream.log(event: event) }
        var event = event
        event.metadata = metadata.merging(event.metadata ?? [:]) { _, explicit in explicit }
        stream.log(event: event)
    }
}
