import Foundation
import SlackGateway

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

// usero-bench-slack-client: outbound Slack call latency, the live client (`HTTPSlackWebAPI`, AsyncHTTPClient) beside
// the URLSession client usero had before (same configuration: ephemeral session, 8 connections per host, 10 s
// timeout), against one fake Web API on loopback. Calls are `chat.getPermalink`, one after another on one reused
// connection, GAP milliseconds apart (as a job worker makes them). Run by scripts/bench-slack-latency.sh.
//
//     usero-bench-slack-client http://127.0.0.1:PORT/api/ [CALLS (100)] [GAP_MS (20)]

let arguments = CommandLine.arguments
guard arguments.count >= 2, let base = URL(string: arguments[1]), ["127.0.0.1", "localhost"].contains(base.host ?? "")
else {
    FileHandle.standardError.write(Data("usage: usero-bench-slack-client http://127.0.0.1:PORT/api/ [CALLS] [GAP_MS]\n".utf8))
    exit(2)
}
let calls = min(max(arguments.count > 2 ? Int(arguments[2]) ?? 100 : 100, 1), 10_000)
let gap = min(max(arguments.count > 3 ? Int(arguments[3]) ?? 20 : 20, 0), 1000)

/// The URLSession client as `HTTPSlackWebAPI` had it, reduced to one GET.
struct URLSessionPermalink: Sendable {
    let baseURL: URL
    let session: URLSession

    init(baseURL: URL) {
        self.baseURL = baseURL
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 10
        configuration.timeoutIntervalForResource = 20
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        configuration.httpMaximumConnectionsPerHost = 8
        session = URLSession(configuration: configuration)
    }

    struct Failed: Error {}

    func permalink(token: Redacted<String>) async throws {
        var components = URLComponents(
            url: baseURL.appendingPathComponent("chat.getPermalink"), resolvingAgainstBaseURL: false)
        components?.percentEncodedQuery = "channel=C0001&message_ts=1700000000.000100"
        guard let url = components?.url else { throw Failed() }
        var request = URLRequest(url: url)
        request.setValue("Bearer \(token.value)", forHTTPHeaderField: "Authorization")
        let (data, response) = try await session.data(for: request)
        guard (response as? HTTPURLResponse)?.statusCode == 200, (try? JSONSerialization.jsonObject(with: data)) != nil
        else { throw Failed() }
    }
}

let token = Redacted("xoxb-bench")
let live = HTTPSlackWebAPI(baseURL: base)
let old = URLSessionPermalink(baseURL: base)
let clients: [(String, @Sendable () async throws -> Void)] = [
    ("URLSession (before)", { try await old.permalink(token: token) }),
    ("AsyncHTTPClient (now)", { _ = try await live.permalink(channel: "C0001", ts: "1700000000.000100", token: token) }),
]
for (name, call) in clients {
    for _ in 0..<3 { try await call() }
    var times: [Double] = []
    for _ in 0..<calls {
        try await Task.sleep(for: .milliseconds(gap))
        let start = ContinuousClock.now
        try await call()
        let elapsed = ContinuousClock.now - start
        times.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
    }
    times.sort()
    func percentile(_ p: Double) -> Double { times[min(times.count - 1, Int((Double(times.count - 1) * p).rounded()))] }
    print(
        "\(name.padding(toLength: 24, withPad: " ", startingAt: 0))"
            + String(format: " p50 %7.2f ms   p90 %7.2f ms   p99 %7.2f ms   (%d calls, %d ms apart)",
                percentile(0.5), percentile(0.9), percentile(0.99), calls, gap))
}
