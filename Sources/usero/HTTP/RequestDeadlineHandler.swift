import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request (head through end of body) has not arrived whole within `timeout` of its head.
///
/// Hummingbird's idle timeout closes a connection that sends nothing for `USERO_IDLE_TIMEOUT_SECONDS`, including one
/// that stops half-way through a request's headers or body; but a body that trickles in a byte every few seconds is
/// never idle. This bounds that case (`USERO_REQUEST_TIMEOUT_SECONDS`): a slow client costs a connection for at most
/// that long. One handler per connection, on its event loop.
final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    let timeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            deadline?.cancel()
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            deadline = context.eventLoop.scheduleTask(in: timeout) { loopBound.value.close(promise: nil) }
        case .body:
            break
        case .end:
            deadline?.cancel()
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }
}
