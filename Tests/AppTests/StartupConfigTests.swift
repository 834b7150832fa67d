import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Testing
@testable import usero
import UseroTestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Configuration read at startup, without running the program: values that used to pass and fail later.
@Suite struct StartupConfigTests {
    /// An IPv6 listening address and no USERO_PUBLIC_URL: the default public URL puts the address in brackets
    /// (`http://::1:8080` is not a URL, and serve refused to start naming USERO_PUBLIC_URL, which was never set).
    @Test(arguments: [("::1", "http://[::1]:8080"), ("::", "http://[::]:8080"), ("127.0.0.1", "http://127.0.0.1:8080")])
    func theDefaultPublicURLOfAnIPv6HostHasBrackets(host: String, expected: String) throws {
        let config = try AppConfig.load(host: nil, port: nil, environment: ["USERO_HOST": host])
        #expect(config.publicURL == expected)
        let flagged = try AppConfig.load(host: host, port: 9090, environment: [:])
        #expect(flagged.publicURL == expected.replacingOccurrences(of: "8080", with: "9090"))
    }
}
