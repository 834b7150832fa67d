import Logging
import Synchronization
import Testing

@testable import usero

/// The service's log handler writes exactly the lines `StreamLogHandler` wrote (it only formats metadata later).
@Suite struct StderrLogHandlerTests {
    final class Lines: TextOutputStream, @unchecked Sendable {
        let text = Mutex("")
        func write(_ string: String) { text.withLock { $0 += string } }
        /// Each line without its leading timestamp (the two handlers may straddle a second).
        var withoutTimestamps: [String] {
            text.withLock { $0 }.split(separator: "\n").map { $0.split(separator: " ", maxSplits: 1).last.map(String.init) ?? "" }
        }
    }

    struct Failure: Error {}

    /// Logs the same sequence through `logger`: metadata set, changed and removed between lines.
    static func exercise(_ logger: inout Logger) {
        logger.logLevel = .debug
        logger.info("no metadata")
        logger[metadataKey: "hb.request.id"] = "42"
        logger[metadataKey: "b"] = "2"
        logger.info("logger metadata")
        logger.debug("call metadata wins", metadata: ["b": "3", "a": "1"])
        logger.trace("below the level")
        logger.error("with an error", error: Failure())
        logger[metadataKey: "b"] = nil
        logger.warning("one key left")
    }

    @Test func writesWhatStreamLogHandlerWrote() {
        let expected = Lines()
        var reference = Logger(label: "usero") { StreamLogHandler(label: $0, stream: expected, metadataProvider: nil) }
        Self.exercise(&reference)
        let actual = Lines()
        var logger = Logger(label: "usero") { StderrLogHandler(label: $0, stream: actual) }
        Self.exercise(&logger)
        #expect(expected.withoutTimestamps.count == 5)
        #expect(actual.withoutTimestamps == expected.withoutTimestamps)
        #expect(actual.withoutTimestamps.contains("debug usero: a=1 b=3 hb.request.id=42 [AppTests] call metadata wins"))
    }
}
