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

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError { refused = true }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard refused, case .head(let head) = unwrapOutboundIn(data), head.status == .badRequest,
            head.headerFields[.contentLength] == "0", head.headerFields[.connection] == "close"
        else {
            context.write(data, promise: promise)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: Self.body.utf8.count)
        buffer.writeString(Self.body)
        var filled = head
        filled.headerFields[.contentType] = "application/json; charset=utf-8"
        filled.headerFields[.contentLength] = "\(buffer.readableBytes)"
        // The route is unknown here (the parser gave up), and the public routes answer every response with CORS `*`:
        // a widget's request with too long a URL gets a reason its script can read, not an opaque network error.
        // Harmless elsewhere: the answer holds nothing but this error.
        filled.headerFields[.accessControlAllowOrigin] = "*"
        context.write(wrapOutboundOut(.head(filled)), promise: nil)
        context.write(wrapOutboundOut(.body(buffer)), promise: promise)
    }
}
