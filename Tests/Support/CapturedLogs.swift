import Foundation
public import Logging
import Synchronization

/// Every log line a test server wrote, message and metadata rendered, so tests can search them for secrets and
/// canary strings. Never bootstraps the global logging system.
public final class CapturedLogs: Sendable {
    private let lines = Mutex<[String]>([])

    /// An empty record.
    public init() {}

    /// A logger whose output lands here (and nowhere else).
    public func logger(label: String = "usero-test", level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: label) { label in Handler(label: label, sink: self) }
        logger.logLevel = level
        return logger
    }

    /// All lines so far.
    public var all: [String] { lines.withLock { $0 } }

    /// Everything as one string.
    public var text: String { all.joined(separator: "\n") }

    fileprivate func append(_ line: String) { lines.withLock { $0.append(line) } }

    private struct Handler: LogHandler {
        let label: String
        let sink: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            if let extra = event.metadata { merged.merge(extra) { $1 } }
            let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            sink.append("\(event.level) [\(event.source)] \(event.message) \(rendered)")
        }
    }
}
