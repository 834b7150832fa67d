import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request the HTTP parser refuses (a malformed `Content-Length`, both `Content-Length` and
/// `Transfer-Encoding`, an unknown method, a request line or header block past the parser's limits) with the contract's
/// error shape, `400 {"error":"Malformed HTTP request"}`, then closes the connection. Hummingbird answers these with
/// an empty 400 of its own, which no client can read a reason from.
///
/// When the parser fails while a response is being written (a pipelined request after one still answering), a second
/// response cannot follow it: the connection is only closed, as before.
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    static let body = #"{"error":"Malformed HTTP request"}"#

    /// A response's head has gone out and its end not yet.
    private var responding = false
    private var answered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.kind != .informational: responding = true
        case .end: responding = false
        default: break
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A connection the client closed mid-request is no request to answer: the route learns of it as before.
        guard let parserError = error as? HTTPParserError, parserError != .invalidEOFState, context.channel.isActive
        else {
            context.fireErrorCaught(error)
            return
        }
        guard !answered else { return }
        answered = true
        if responding {
            context.close(promise: nil)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: Self.body.utf8.count)
        buffer.writeString(Self.body)
        let head = HTTPResponse(
            status: .badRequest,
            headerFields: [
                .contentType: "application/json; charset=utf-8", .contentLength: "\(buffer.readableBytes)",
                .connection: "close",
            ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(buffer)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
