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

    @Test func logLevelIsReadInAnyCaseAndAnythingElseIsAMistake() throws {
        #expect(try AppConfig.load(host: nil, port: nil, environment: [:]).logLevel == .info)
        #expect(try AppConfig.load(host: nil, port: nil, environment: ["LOG_LEVEL": "TRACE"]).logLevel == .trace)
        #expect(try AppConfig.load(host: nil, port: nil, environment: ["LOG_LEVEL": "Warning"]).logLevel == .warning)
        for bad in ["verbose", "warn", "5", "info,debug"] {
            #expect(throws: AppConfig.Invalid.self, "\(bad)") {
                try AppConfig.load(host: nil, port: nil, environment: ["LOG_LEVEL": bad])
            }
        }
    }
}

/// The `usero` program refusing, at startup, what would otherwise have failed later.
@Suite(.serialized) struct StartupChecksCommandLineTests {
    let folder = TestServer.makeFolder()
    var environment: [String: String] { UseroBinary.storeEnvironment(in: folder) }

    /// `LOG_LEVEL=verbose` used to mean info, silently. serve and every command read the same configuration.
    @Test func anUnknownLogLevelStopsServeAndTheCommandsNamingIt() async throws {
        var settings = environment
        settings["USERO_PORT"] = "0"
        settings["LOG_LEVEL"] = "verbose"
        for command in [["serve"], ["clients", "create", "--name", "A"], ["retention", "run"], ["tokens", "reseal"]] {
            let outcome = try await UseroBinary.run(command, environment: settings)
            #expect(outcome.status == 78, "\(command): \(outcome.stderr)")
            let lines = outcome.stderr.split(separator: "\n").filter { $0.contains("LOG_LEVEL") }
            #expect(lines.count == 1, "\(command): \(outcome.stderr)")
        }
        settings["LOG_LEVEL"] = "NOTICE"
        #expect(try await UseroBinary.run(["clients", "create", "--name", "A"], environment: settings).status == 0)
    }
}
