import Feedback
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Gives the answer to a request the HTTP parser refuses (a malformed `Content-Length`, both `Content-Length` and
/// `Transfer-Encoding`, an unknown method, a request line or header block past the parser's limits) the contract's
/// error shape: `400 {"error":"Malformed HTTP request"}`, where Hummingbird writes an empty 400 from which no client can
/// read a reason.
///
/// The error itself goes on as before, so everything keeps its order: a request already read is answered first; a
/// route reading a body fails with it and answers `400 {"error":"Incomplete or malformed request"}` itself (the
/// connection then closes); otherwise Hummingbird writes its 400 and closes, and this handler only fills that answer
/// in. (Answering on the side, at the error, answered a pipelined request that had been stored with the 400,
/// and cut a response being written.)
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    static let body = #"{"error":"Malformed HTTP request"}"#

    /// The parser refused something on this connection: Hummingbird's empty 400 will follow.
    private var refused = false
    /// Requests whose head arrived, and final answers whose head went out, on this connection.
    private var requestsIn = 0, answersOut = 0
    /// The last request's head arrived and its end has not: a parser error now is in its body.
    private var inBody = false
    /// Hummingbird's 400 is dropped (the connection just closes): see `write`.
    private var dropping = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            // CONNECT asks for a tunnel, which no route gives; NIO's encoder frames no body in an answer to it, so
            // Hummingbird's 404 went out without a length and the connection hung until the idle timeout. Refused
            // like a method the parser does not know: a 400 (without its body, which the encoder drops here too) and
            // the connection closes. The request goes no further.
            if head.method == .connect {
                refuse(context: context)
                return
            }
            requestsIn += 1
            inBody = true
        case .body:
            break
        case .end:
            inBody = false
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError { refused = true }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let part = unwrapOutboundIn(data)
        if dropping {
            promise?.succeed()
            if case .end = part { context.close(promise: nil) }
            return
        }
        if case .head(let head) = part, head.status.kind != .informational { answersOut += 1 }
        guard refused, case .head(let head) = part, head.status == .badRequest,
            head.headerFields[.contentLength] == "0", head.headerFields[.connection] == "close"
        else {
            context.write(data, promise: promise)
            return
        }
        // The parser failed in the body of a request already answered (a route that reads no body, a DELETE with a
        // broken chunk): a second answer to one request would be paired by a proxy with the next one. The
        // connection closes without it.
        if inBody && answersOut - 1 >= requestsIn {
            dropping = true
            promise?.succeed()
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: Self.body.utf8.count)
        buffer.writeString(Self.body)
        var filled = head
        for field in JSONResponse.headers { filled.headerFields[field.name] = field.value }
        filled.headerFields[.contentLength] = "\(buffer.readableBytes)"
        // The route is unknown here (the parser gave up), and the public routes answer every response with CORS `*`:
        // a widget's request with too long a URL gets a reason its script can read, not an opaque network error.
        // Harmless elsewhere: the answer holds nothing but this error.
        filled.headerFields[.accessControlAllowOrigin] = "*"
        context.write(wrapOutboundOut(.head(filled)), promise: nil)
        context.write(wrapOutboundOut(.body(buffer)), promise: promise)
    }

    /// Answers `400 {"error":"Malformed HTTP request"}` and closes, for a request that goes no further.
    private func refuse(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: Self.body.utf8.count)
        buffer.writeString(Self.body)
        var head = HTTPResponse(status: .badRequest, headerFields: JSONResponse.headers)
        head.headerFields[.contentLength] = "\(buffer.readableBytes)"
        head.headerFields[.connection] = "close"
        head.headerFields[.accessControlAllowOrigin] = "*"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(buffer)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
