import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request (head through end of body) has not arrived whole within `timeout` of its head.
///
/// Hummingbird's idle timeout closes a connection that sends nothing for `USERO_IDLE_TIMEOUT_SECONDS`, including one
/// that stops half-way through a request's headers or body; but a body that trickles in a byte every few seconds is
/// never idle. This bounds that case (`USERO_REQUEST_TIMEOUT_SECONDS`): a slow client costs a connection for at most
/// that long. One handler per connection, on its event loop.
///
/// One timer per connection at a time, re-armed lazily: a head notes when its request started and arms the timer only
/// if none is pending; when the timer fires it closes the connection if the request in progress is overdue, re-arms
/// for that request's own deadline if it is not yet, and stays off while no request is in progress. The bound is the
/// same as one timer per request (closed no later than `timeout` after the head of a request still incomplete), but
/// a keep-alive connection answering many requests schedules about one timer per `timeout` instead of one per request
/// (a scheduled task and its cancellation were about 3 % of a small request's CPU; see BENCHMARKS.md).
final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    let timeout: TimeAmount
    /// When the request in progress started (its head arrived); nil between requests.
    private var started: NIODeadline?
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            let now = NIODeadline.now()
            started = now
            if timer == nil { arm(context: context, at: now + timeout) }
        case .body:
            break
        case .end:
            started = nil
        }
        context.fireChannelRead(data)
    }

    private func arm(context: ChannelHandlerContext, at deadline: NIODeadline) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.fire(context: context)
        }
    }

    private func fire(context: ChannelHandlerContext) {
        timer = nil
        guard let started else { return }
        let due = started + timeout
        if NIODeadline.now() >= due {
            context.close(promise: nil)
        } else {
            arm(context: context, at: due)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    private func stop() {
        timer?.cancel()
        timer = nil
        started = nil
    }
}
