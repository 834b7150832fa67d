import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers `Expect: 100-continue` with `100 Continue` as soon as the request's head arrives.
///
/// curl sends that header with every upload larger than 1 KB and then waits (one second) before sending the body
/// anyway; NIO and Hummingbird send no interim answer, so every documented `curl -F screenshot=@…` upload took a
/// second longer than it needed (1.10 s against 0.09 s without the header). The final answer still follows as usual,
/// and may refuse the request (413, 429, 503) once the head has been read.
///
/// A body declared larger than its route takes (`bodyLimits`, by path) gets no `100 Continue`: the route answers 413
/// from the head alone, and a client waiting for the interim answer never sends the body at all, which is what the
/// header is for.
final class ExpectContinueHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    /// The largest body each path takes, where its route refuses a larger declared one from the head.
    let bodyLimits: [String: Int]

    init(bodyLimits: [String: Int] = [:]) {
        self.bodyLimits = bodyLimits
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data), let expect = head.headerFields[.expect],
            expect.lowercased() == "100-continue", !declaresTooMuch(head)
        {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }

    private func declaresTooMuch(_ head: HTTPRequest) -> Bool {
        // Looked up as the router matches it: `/api/feedback/` and `//api/feedback` are that route too.
        guard let path = head.path,
            let limit = bodyLimits["/" + path.prefix { $0 != "?" }.split(separator: "/").joined(separator: "/")]
        else { return false }
        guard let text = head.headerFields[.contentLength] else { return false }
        // More digits than any limit has is too much whatever they say; the route answers the malformed ones.
        guard text.utf8.count <= 18, let declared = Int(text) else { return text.utf8.allSatisfy { (48...57).contains($0) } }
        return declared > limit
    }
}
