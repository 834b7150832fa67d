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
///
/// The other direction too (`stalledReader`, `USERO_IDLE_TIMEOUT_SECONDS`): a client that asks for a large answer (a
/// public screenshot) and never reads it held its connection, and a slot of `USERO_MAX_CONNECTIONS`, for as long as
/// it liked; a handful of them stopped the server from taking any other. Once the answer fills the socket's buffers
/// the channel turns unwritable; if it stays so for `stalledReader`, the connection is closed. A slow reader that
/// keeps taking its answer turns the channel writable again now and then, which disarms that timer. (Here rather
/// than in a handler of its own: every handler in the pipeline is a hop for every part of every request.)
final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    let timeout: TimeAmount
    let stalledReader: TimeAmount
    /// When the request in progress started (its head arrived); nil between requests.
    private var started: NIODeadline?
    private var timer: Scheduled<Void>?
    /// Armed while the channel is unwritable.
    private var readerTimer: Scheduled<Void>?

    init(timeout: TimeAmount, stalledReader: TimeAmount) {
        self.timeout = timeout
        self.stalledReader = stalledReader
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            readerTimer?.cancel()
            readerTimer = nil
        } else if readerTimer == nil {
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            readerTimer = context.eventLoop.scheduleTask(in: stalledReader) {
                let (handler, context) = loopBound.value
                handler.readerTimer = nil
                if !context.channel.isWritable { context.close(promise: nil) }
            }
        }
        context.fireChannelWritabilityChanged()
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
        readerTimer?.cancel()
        readerTimer = nil
    }
}
