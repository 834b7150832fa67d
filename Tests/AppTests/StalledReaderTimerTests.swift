import NIOCore
import NIOEmbedded
import Testing

@testable import usero

/// The stalled-reader timer of `RequestDeadlineHandler`, on an embedded channel whose writability and clock the test
/// moves: the real server's socket buffers make those too uneven to test there without flakes
/// (`ConnectionLimitsTests` covers a reader that never reads, end to end).
@Suite struct StalledReaderTimerTests {
    static let limit = TimeAmount.seconds(4)

    /// A channel with the handler, and a way to turn it unwritable or writable as a socket's buffers would.
    struct Connection {
        let loop = EmbeddedEventLoop()
        let channel: EmbeddedChannel

        init() throws {
            channel = EmbeddedChannel(
                handler: RequestDeadlineHandler(timeout: .seconds(60), stalledReader: StalledReaderTimerTests.limit),
                loop: loop)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        }

        func writable(_ writable: Bool) {
            channel.isWritable = writable
            channel.pipeline.fireChannelWritabilityChanged()
        }

        func wait(_ seconds: Double) { loop.advanceTime(by: .milliseconds(Int64(seconds * 1_000))) }

        /// Stalls from now on: open until just before the limit, closed just after it.
        func expectClosedAfterAStallOfTheLimit(sourceLocation: SourceLocation = #_sourceLocation) {
            writable(false)
            wait(3.9)
            #expect(channel.isActive, sourceLocation: sourceLocation)
            wait(0.2)
            #expect(!channel.isActive, sourceLocation: sourceLocation)
        }
    }

    @Test func aReaderThatStopsIsClosedAfterTheLimit() throws {
        try Connection().expectClosedAfterAStallOfTheLimit()
    }

    /// A slow reader that keeps taking its answer turns the channel writable now and then: each time the count
    /// starts again, however long the whole answer takes.
    @Test func aSlowButSteadyReaderIsNeverClosed() throws {
        let connection = try Connection()
        for _ in 0..<10 {
            connection.writable(false)
            connection.wait(3)
            connection.writable(true)
            connection.wait(0.5)
        }
        #expect(connection.channel.isActive)
        // It stops for good: closed a limit after its last stall began
        connection.expectClosedAfterAStallOfTheLimit()
    }

    /// Writable for a moment between two stalls: the second stall gets the whole limit, not what was left of the
    /// first's.
    @Test func aStallAfterTheReaderCaughtUpGetsTheWholeLimit() throws {
        let connection = try Connection()
        connection.writable(false)
        connection.wait(1)
        connection.writable(true)
        connection.wait(0.5)
        connection.expectClosedAfterAStallOfTheLimit()
    }
}
