import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose client stops taking its answer for `timeout` (`USERO_IDLE_TIMEOUT_SECONDS`).
///
/// The idle timeout counts what a client sends, and the request timeout ends with the request: a client that asks for
/// a large answer (a public screenshot) and then never reads it held its connection, and a slot of
/// `USERO_MAX_CONNECTIONS`, for as long as it liked; a handful of them stopped the server from taking any other. Once
/// the answer fills the socket's buffers the channel turns unwritable; if it stays so for `timeout`, the connection
/// is closed. A slow reader that keeps taking its answer turns the channel writable again now and then, which
/// disarms the timer. One handler per connection, on its event loop; a timer only while the channel is unwritable.
final class StalledReaderHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            stop()
        } else if timer == nil {
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(in: timeout) {
                let (handler, context) = loopBound.value
                handler.timer = nil
                if !context.channel.isWritable { context.close(promise: nil) }
            }
        }
        context.fireChannelWritabilityChanged()
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
    }
}
