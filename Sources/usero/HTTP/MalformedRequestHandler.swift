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
///
/// It also answers `Expect: 100-continue` with `100 Continue` once the request's head arrived and every earlier
/// request on the connection has had its whole answer (it counts both, which is why it is here: one handler fewer on
/// every part of every request). curl sends that header with every upload larger than 1 KB and then waits a second
/// before sending the body anyway; NIO and Hummingbird send no interim answer, so every documented `curl -F
/// screenshot=@…` upload took a second longer than it needed. A body declared larger than its route takes
/// (`bodyLimits`, by path) gets none: the route answers 413 from the head alone, and a client waiting for the interim
/// answer never sends the body, which is what the header is for. A pipelined request's interim answer waits for the
/// answers before it (it went out ahead of them, and a client pairs a 1xx with its oldest request; found by a
/// review). An HTTP/1.0 client never gets one (`HTTP10CloseHandler` drops its expectation).
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    static let body = #"{"error":"Malformed HTTP request"}"#

    /// The largest body each path takes, where its route refuses a larger declared one from the head.
    let bodyLimits: [String: Int]
    /// The parser refused something on this connection: Hummingbird's empty 400 will follow.
    private var refused = false
    /// Requests whose head arrived, and final answers whose head went out, on this connection.
    private var requestsIn = 0, answersOut = 0
    /// Final answers written to their end, on this connection.
    private var answersEnded = 0
    /// The request whose `100 Continue` waits for the answers before it (its number in `requestsIn`).
    private var continueFor: Int?
    /// The last request's head arrived and its end has not: a parser error now is in its body.
    private var inBody = false
    /// Hummingbird's 400 is dropped (the connection just closes): see `write`.
    private var dropping = false

    init(bodyLimits: [String: Int] = [:]) {
        self.bodyLimits = bodyLimits
    }

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
            if let expect = head.headerFields[.expect], expect.lowercased() == "100-continue", !declaresTooMuch(head) {
                if answersEnded == requestsIn - 1 {
                    context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
                } else if continueFor == nil {
                    // (A second one pipelined behind it goes without: its client sends the body after its wait.)
                    continueFor = requestsIn
                }
            }
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
            if case .end = part { answerEnded(context: context) }
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

    /// An answer went out whole: a `100 Continue` waiting for it goes next.
    private func answerEnded(context: ChannelHandlerContext) {
        answersEnded += 1
        if let waiting = continueFor, answersEnded == waiting - 1 {
            continueFor = nil
            context.write(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
    }

    private func declaresTooMuch(_ head: HTTPRequest) -> Bool {
        // Looked up as the router matches it: `/api/feedback/` and `//api/feedback` are that route too.
        guard let path = head.path, let limit = bodyLimits[RouteMethods.routePath(of: path)] else { return false }
        guard let text = head.headerFields[.contentLength] else { return false }
        // More digits than any limit has is too much whatever they say; the route answers the malformed ones.
        guard text.utf8.count <= 18, let declared = Int(text) else { return text.utf8.allSatisfy { (48...57).contains($0) } }
        return declared > limit
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
