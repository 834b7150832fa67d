import NIOCore
import NIOHTTPTypes
import Synchronization

/// `USERO_MAX_CONNECTIONS_PER_ADDRESS` (off unless set): how many of the service's connections one source address
/// may hold (an IPv6 peer counts by its /64, as for the rate limit). `USERO_MAX_CONNECTIONS` bounds them all, and a connection that
/// sends nothing holds its place until the idle timeout: one host opening that many and reopening them kept every
/// other caller out. A connection past its address's share is closed as soon as it is set up, before it is read.
/// Counts live in memory only; an address is never stored or logged. (Upload slots are shared out with the same
/// counts, `UploadConcurrencyMiddleware`.)
final class ConnectionsPerAddress: Sendable {
    let limit: Int
    private let held = Mutex<[String: Int]>([:])

    init(limit: Int) {
        precondition(limit > 0)
        self.limit = limit
    }

    /// Counts a new connection of `key`; false when that is more than its address may hold (it is counted all the
    /// same, and given back by `release` when it closes).
    func take(_ key: String) -> Bool {
        held.withLock { table in
            let count = table[key, default: 0] + 1
            table[key] = count
            return count <= limit
        }
    }

    func release(_ key: String) {
        held.withLock { table in
            guard let count = table[key] else { return }
            table[key] = count > 1 ? count - 1 : nil
        }
    }

    /// The handler each connection gets.
    func handler() -> Handler { Handler(counts: self) }

    final class Handler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart
        typealias InboundOut = HTTPRequestPart

        let counts: ConnectionsPerAddress
        private var key: String?
        /// Past its address's share: closing, and nothing it sent is read.
        private var refused = false

        init(counts: ConnectionsPerAddress) {
            self.counts = counts
        }

        func handlerAdded(context: ChannelHandlerContext) {
            guard let key = PublicRateLimitMiddleware.addressKey(context.channel.remoteAddress) else { return }
            self.key = key
            if !counts.take(key) {
                refused = true
                // After the connection's set-up has finished, which closing it in the middle of would fail.
                let channel = context.channel
                context.eventLoop.execute { channel.close(promise: nil) }
            }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !refused else { return }
            context.fireChannelRead(data)
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            if let key { counts.release(key) }
            key = nil
        }
    }
}
