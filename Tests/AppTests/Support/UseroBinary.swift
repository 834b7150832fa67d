import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Inbox
@testable import StoreSQLite
import SlackGateway
import Retention
import UseroTestSupport

/// The built `usero` executable, run as a user would run it.
enum UseroBinary {
    /// What every run starts from: suites send bursts from one address, so the public rate limit is off unless a
    /// test's own environment sets `USERO_PUBLIC_RATE_LIMIT`.
    static let defaultEnvironment = ["PATH": "/usr/bin:/bin", "USERO_PUBLIC_RATE_LIMIT": "0"]

    /// A SQLite store and data folder inside `folder`, as the variables `serve` and the commands read.
    static func storeEnvironment(in folder: URL) -> [String: String] {
        [
            "USERO_DATABASE": folder.appendingPathComponent("usero.sqlite").path,
            "USERO_DATA_DIR": folder.appendingPathComponent("data").path,
        ]
    }

    /// The executable beside the test bundle (`swift build` puts both in the same folder).
    static func url() throws -> URL {
        let bundleFolder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [bundleFolder, bundleFolder.deletingLastPathComponent()].map {
            $0.appendingPathComponent("usero")
        }
        return try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) },
                            "build the usero executable first (swift build)")
    }

    /// A loopback port that was free a moment ago, below Linux's ephemeral range (32768+) so the other suites'
    /// servers and clients, which take ephemeral ports, cannot be handed it meanwhile.
    static func freePort() -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 20000..<32000)
            if let fd = boundSocket(port: port) {
                close(fd)
                return port
            }
        }
        return Int.random(in: 20000..<32000)
    }

    /// A port of 127.0.0.1 held by a listening socket of this process until `body` returns: another program's.
    static func withPortInUse<T>(_ body: (_ port: Int) async throws -> T) async throws -> T {
        for _ in 0..<200 {
            let port = Int.random(in: 20000..<32000)
            guard let fd = boundSocket(port: port) else { continue }
            defer { close(fd) }
            try #require(listen(fd, 8) == 0)
            return try await body(port)
        }
        throw CancellationError()
    }

    /// A TCP socket bound to 127.0.0.1:`port`, or nil when the port is taken.
    private static func boundSocket(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    /// Starts `usero serve` on `port` and waits until `/healthz` answers (up to a minute: process start, migrations and
    /// the first store check can take seconds under the whole suite); not healthy if it never did or exited.
    /// Standard error goes to `log` when given.
    static func startServe(port: Int, environment: [String: String], log: String? = nil) async throws
        -> (ChildProcess, isHealthy: Bool)
    {
        let process = try launchServe(port: port, environment: environment, log: log)
        return (process, try await waitUntilHealthy(process, port: port))
    }

    /// Starts `usero serve` on `port` without waiting for it; standard error goes to `log` when given.
    static func launchServe(port: Int, environment: [String: String], log: String? = nil) throws -> ChildProcess {
        try ChildProcess(
            try url().path, ["serve", "--port", "\(port)"], environment: defaultEnvironment.merging(environment) { $1 },
            stderr: log.map { .file($0) } ?? .null)
    }

    /// Whether the `serve` of `process` answers `/healthz` on `port` within `limit`, asked every 100 ms; false at once
    /// when it exits.
    static func waitUntilHealthy(_ process: ChildProcess, port: Int, within limit: Duration = .seconds(60)) async throws
        -> Bool
    {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline, process.isRunning {
            try await Task.sleep(for: .milliseconds(100))
            if (try? await HTTPResult.send("GET", "http://127.0.0.1:\(port)/healthz").status) == 200 {
                return true
            }
        }
        return false
    }

    /// Runs `body` with the port of a `usero serve` started on `environment` and answering `/healthz` (the test fails
    /// when it never does), and stops it with SIGTERM afterwards, whether `body` returned or threw.
    static func withServe<T>(environment: [String: String], _ body: (_ port: Int) async throws -> T) async throws -> T {
        let port = freePort()
        let (process, healthy) = try await startServe(port: port, environment: environment)
        do {
            try #require(healthy, "usero serve did not answer /healthz")
            let result = try await body(port)
            process.send(SIGTERM)
            await waitForExit(process)
            return result
        } catch {
            process.send(SIGTERM)
            await waitForExit(process)
            throw error
        }
    }

    /// Runs `usero clients create --name NAME ARGUMENTS` as an operator does, and returns the new client's id and
    /// admin key (printed once, as JSON). Fails the test, naming the command's standard error, when it did not work.
    static func createClient(name: String, _ arguments: [String] = [], environment: [String: String]) async throws
        -> (id: String, adminKey: String)
    {
        let created = try await run(["clients", "create", "--name", name] + arguments, environment: environment)
        try #require(created.status == 0, "clients create: \(created.stderr)")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: String],
            "clients create printed: \(created.stdout)")
        return (try #require(json["clientId"]), try #require(json["adminKey"]))
    }

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `usero ARGS` to completion with `environment` added to a minimal one; killed after `timeout` seconds.
    /// The waiting happens off Swift's cooperative pool (see `offPool`).
    static func run(_ arguments: [String], environment: [String: String], timeout: Double = 30, shell: Bool = false)
        async throws -> Outcome
    {
        // `shell`: the arguments are `/bin/sh`'s (a redirection a test needs).
        let executable = shell ? "/bin/sh" : try url().path
        return try await offPool {
            let (status, stdout, stderr) = try ChildProcess.run(
                executable, arguments, environment: defaultEnvironment.merging(environment) { $1 }, timeout: timeout)
            return Outcome(status: status, stdout: String(decoding: stdout, as: UTF8.self),
                           stderr: String(decoding: stderr, as: UTF8.self))
        }
    }
}


extension UseroBinary {
    /// A client's allowlist changed with `clients update` while `serve` runs on the store of `environment`: the
    /// widget's origin that was refused is allowed at once, the old one refused, `--any-origin` lets every origin
    /// in; `clients list` shows the list and never a key; a command that changes nothing, or contradicts itself, is
    /// refused before it opens the store.
    static func checkAllowlistUpdates(environment: [String: String]) async throws {
        let (id, key) = try await createClient(
            name: "Widget", ["--allowed-origin", "https://old.example.com"], environment: environment)
        func update(_ arguments: [String]) async throws -> Outcome {
            try await run(["clients", "update", id] + arguments, environment: environment)
        }
        try await withServe(environment: environment) { port in
            func submit(from origin: String) async throws -> Int {
                try await HTTPResult.send(
                    "POST", "http://127.0.0.1:\(port)/api/feedback",
                    headers: ["Content-Type": "application/json", "Origin": origin],
                    body: Data(#"{"clientId":"\#(id)","comment":"from \#(origin)"}"#.utf8)
                ).status
            }
            #expect(try await submit(from: "https://old.example.com") == 200)
            #expect(try await submit(from: "https://new.example.com") == 403)

            let replaced = try await update(["--allowed-origin", "https://NEW.example.com:443", "--allowed-origin", "*.example.org"])
            #expect(replaced.status == 0, "\(replaced.stderr)")
            let client = try #require(try JSONSerialization.jsonObject(with: Data(replaced.stdout.utf8)) as? [String: Any])
            #expect(client["allowedOrigins"] as? [String] == ["https://new.example.com", "*.example.org"])
            #expect(client["plan"] as? String == "free")
            #expect(try await submit(from: "https://new.example.com") == 200)
            #expect(try await submit(from: "https://shop.example.org") == 200)
            #expect(try await submit(from: "https://old.example.com") == 403)

            let cleared = try await update(["--any-origin", "--plan", "paid"])
            #expect(cleared.status == 0, "\(cleared.stderr)")
            #expect(try await submit(from: "https://old.example.com") == 200)

            let listed = try await run(["clients", "list"], environment: environment)
            #expect(listed.status == 0, "\(listed.stderr)")
            let clients = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
            let mine = try #require(clients.first { $0["clientId"] as? String == id })
            #expect(mine["allowedOrigins"] as? [String] == [])
            #expect(mine["plan"] as? String == "paid")
            #expect(mine["name"] as? String == "Widget")
            #expect(!listed.stdout.contains(key) && !listed.stdout.contains("adminKey"))
        }
        let nothing = try await update([])
        #expect(nothing.status != 0)
        #expect(nothing.stderr.contains("nothing to change"), "\(nothing.stderr)")
        let both = try await update(["--any-origin", "--allowed-origin", "https://a.example.com"])
        #expect(both.status != 0)
        #expect(both.stderr.contains("--any-origin"), "\(both.stderr)")
        let bad = try await update(["--allowed-origin", "not an origin"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--allowed-origin"), "\(bad.stderr)")
    }
}
