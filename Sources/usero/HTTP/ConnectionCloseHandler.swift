import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Makes every spelling of `Connection: close` the one Hummingbird looks for. Connection options are a
/// case-insensitive list (RFC 9110, 7.6.1): `Close`, `keep-alive, close` or `close, upgrade` ask the server to close
/// after its answer as much as `close` does, but Hummingbird compares the whole value with `close`, so such a client
/// (older .NET sends `Close`) waited for the idle timeout, holding one of the server's connection slots.
final class ConnectionCloseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
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
