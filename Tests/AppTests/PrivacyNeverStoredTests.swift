import Foundation
import Testing

@testable import usero
@testable import Inbox
@testable import StoreSQLite
import SlackGateway
import Retention
import UseroTestSupport

@Suite struct PrivacyNeverStoredTests {
    static let ip = "203.0.113.77"
    static let ipv6 = "2001:db8::77"

    @Test func callersIPAddressIsNeverStoredOrLogged() async throws {
        let logs = CapturedLogs()
        try await TestServer.run(logs: logs) { server in
            let client = try await server.createClient()
            let canary = "canary-comment-7f3a9"
            let headers = [
                "X-Forwarded-For": "\(Self.ip), 10.0.0.1", "X-Real-IP": Self.ip,
                "Forwarded": "for=\(Self.ip);proto=https, for=\"[\(Self.ipv6)]\"", "CF-Connecting-IP": Self.ip,
                "True-Client-IP": Self.ipv6,
            ]
            // Every public write path, carrying the address in every header a proxy might use.
            let feedback = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","comment":"\#(canary)","rating":3}"#, headers: headers)
            #expect(feedback.status == 200)
            let identify = try await server.postJSON(
                "/api/identify", #"{"clientId":"\#(client.id)","userId":"u1","traits":{"note":"\#(canary)"}}"#,
                headers: headers)
            #expect(identify.status == 200)
            let rejected = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)"}"#, headers: headers)
            #expect(rejected.status == 400)
            let shot = try await AccountClosureTests.upload(server, clientID: client.id, headers: headers)
            #expect(shot["fileName"] != nil)
            _ = try await server.request(
                "GET", "/api/feedback", headers: headers.merging(["Authorization": "Bearer \(client.key)"]) { $1 })

            // The SQLite file, its WAL and shared memory, as they are on disk now.
            let bytes = try await server.databaseBytes()
            // The canary proves the search reaches stored content.
            #expect(bytes.range(of: Data(canary.utf8)) != nil)
            #expect(bytes.range(of: Data(Self.ip.utf8)) == nil)
            #expect(bytes.range(of: Data(Self.ipv6.utf8)) == nil)
            #expect(!logs.text.contains(Self.ip))
            #expect(!logs.text.contains(Self.ipv6))
            #expect(!logs.text.contains(canary))
        }
    }
}
