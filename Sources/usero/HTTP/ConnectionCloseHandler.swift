import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Makes every spelling of `Connection: close` the one Hummingbird looks for. Connection options are a
/// case-insensitive list (RFC 9110, 7.6.1): `Close`, `keep-alive, close` or `close, upgrade` ask the server to close
/// after its answer as much as `close` does, but Hummingbird compares the whole value with `close`, so such a client
/// (older .NET sends `Close`) waited for the idle timeout, holding one of the server's connection slots.
///
/// HTTP/1.0 too: a 1.0 request without `Connection: keep-alive` asks to close after its answer (RFC 9112, 9.3), but
/// the version is gone once the request is converted to HTTP types, so such a client waited for the idle timeout,
/// holding a connection slot. `HTTP10CloseHandler`, put right after NIO's decoder when this handler is added, says
/// `close` for it.
///
/// And a lingering close (RFC 9112, 9.6): when the server ends a connection after an answer given before the request's
/// body was read (a 413, a 401, a 429, a 503), Hummingbird closes its side and stops reading, so a client still
/// sending the body (Python's urllib, most simple SDKs, every HTTP/1.0 client) stalled with full socket buffers,
/// never saw the answer, and met a broken pipe at the idle timeout (found by a review). Once the output is closed,
/// what still arrives is read and dropped, until the client closes its side or `linger` has passed.
final class ConnectionCloseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    /// Longest a closed connection goes on reading what its client still sends.
    let linger: TimeAmount
    private var lingering = false
    /// Ends the lingering; cancelled when the connection ends first (most do: every HTTP/1.0 request lingers).
    private var lingerTimer: Scheduled<Void>?

    init(linger: TimeAmount) {
        self.linger = linger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.outputClosed = event, !lingering {
            lingering = true
            lingerTimer = context.eventLoop.scheduleTask(in: linger) { [channel = context.channel] in
                channel.close(promise: nil)
            }
            context.read()
        } else if case ChannelEvent.inputClosed = event, lingering {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        lingerTimer?.cancel()
        lingerTimer = nil
        context.fireChannelInactive()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Reads go on while lingering: nothing past this handler asks for them any more.
        if lingering { context.read() }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // What a lingering connection still receives may not parse (the rest of a body read as a request): it ends
        // the connection, as it would have ended anyway.
        if lingering {
            context.close(promise: nil)
            return
        }
        context.fireErrorCaught(error)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        if let decoder = try? pipeline.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self) {
            try? pipeline.addHandler(HTTP10CloseHandler(), position: .after(decoder.handler))
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if lingering { return }
        guard case .head(var head) = unwrapInboundIn(data), let value = head.headerFields[.connection], value != "close",
            Self.asksToClose(value)
        else {
            context.fireChannelRead(data)
            return
        }
        head.headerFields[.connection] = "close"
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    /// Whether a `Connection` value (repeated fields joined with commas) lists `close`, in any case.
    static func asksToClose(_ value: String) -> Bool {
        value.utf8.count <= 1024
            && value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "close" }
    }
}

/// Marks an HTTP/1.0 request that does not ask to be kept alive with `Connection: close`, and drops the `Expect` of any
/// HTTP/1.0 request, while its version is still known (between NIO's decoder and the conversion to HTTP types); see
/// `ConnectionCloseHandler`.
final class HTTP10CloseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), head.version.major == 1, head.version.minor == 0 else {
            context.fireChannelRead(data)
            return
        }
        // A 1.0 client gets no interim answer, which it would take for the final one: its expectation is ignored
        // (RFC 9110, 10.1.1 and 15.2; it got a `100 Continue`, found by a review).
        head.headers.remove(name: "expect")
        // A 1.0 message with Transfer-Encoding has faulty framing: the connection closes after it (RFC 9112, 6.1;
        // it stayed open, found by a review).
        if !head.isKeepAlive || head.headers.contains(name: "transfer-encoding") {
            head.headers.replaceOrAdd(name: "connection", value: "close")
        }
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}
