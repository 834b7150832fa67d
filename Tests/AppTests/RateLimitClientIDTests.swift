import NIOCore
import Testing

@testable import usero

/// The rate limit counts a JSON body under the `clientId` the route will use.
@Suite struct RateLimitClientIDTests {
    @Test(arguments: [
        (#"{"clientId":"client_a","rating":3}"#, "client_a"),
        (#"  {"rating":3, "comment":"a \"quoted\" }{ ,: text", "clientId" : "client_b"}  "#, "client_b"),
        (#"{"\u0063lientId":"client_c"}"#, "client_c"),
        (#"{"clientId":"client_\u00e9\ud83e\udd80"}"#, "client_é🦀"),
        (#"{"metadata":{"clientId":"nested"},"list":[{"clientId":"x"}],"clientId":"client_d"}"#, "client_d"),
        (#"{"clientId":"one","clientId":"two"}"#, "two"),
        ("\u{FEFF}" + #"{"clientId":"client_bom"}"#, "client_bom"),
    ])
    func readsTheRoutesClientID(json: String, expected: String) {
        #expect(PublicRateLimitMiddleware.clientID(inJSON: ByteBuffer(string: json)) == expected)
    }

    @Test(arguments: [
        #"{"clientId":42}"#, "{}", #"[{"clientId":"a"}]"#, #"{"clientId":"a""#, #"{"clientId":"a"} trailing"#,
        #"{"clientId":"\ud800"}"#, #"{clientId:"a"}"#, "",
    ])
    func namesNoClientWhereTheRouteFindsNone(text: String) {
        #expect(PublicRateLimitMiddleware.clientID(inJSON: ByteBuffer(string: text)) == nil)
    }
}
