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
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if bound == 0 { return port }
        }
        return Int.random(in: 20000..<32000)
    }

    /// Starts `usero serve` on `port` and waits (up to 10 s) until `/healthz` answers; nil if it never did.
    static func startServe(port: Int, environment: [String: String]) async throws -> (Process, isHealthy: Bool) {
        let process = Process()
        process.executableURL = try url()
        process.arguments = ["serve", "--port", "\(port)"]
        process.environment = defaultEnvironment.merging(environment) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            try await Task.sleep(for: .milliseconds(100))
            if (try? await HTTPResult.send("GET", "http://127.0.0.1:\(port)/healthz").status) == 200 {
                return (process, true)
            }
        }
        return (process, false)
    }

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `usero ARGS` to completion with `environment` added to a minimal one; killed after `timeout` seconds.
    /// The waiting happens off Swift's cooperative pool (see `offPool`).
    static func run(_ arguments: [String], environment: [String: String], timeout: Double = 30) async throws
        -> Outcome
    {
        try await offPool { try runBlocking(arguments, environment: environment, timeout: timeout) }
    }

    private static func runBlocking(_ arguments: [String], environment: [String: String], timeout: Double) throws
        -> Outcome
    {
        let process = Process()
        process.executableURL = try url()
        process.arguments = arguments
        process.environment = defaultEnvironment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        defer { watchdog.cancel() }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        let status = exitStatus(of: process)
        return Outcome(status: status, stdout: String(decoding: stdout, as: UTF8.self),
                       stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Waits for `process` with waitpid rather than `Process.waitUntilExit`, which has been seen to wait for ever
    /// here with its child already gone, blocking one of the two threads Swift's cooperative pool has on this
    /// machine (two such waits stall every test in the process). When Foundation reaped the child first, its
    /// status is Foundation's.
    static func exitStatus(of process: Process) -> Int32 {
        let pid = process.processIdentifier
        var status: Int32 = 0
        while true {
            let reaped = waitpid(pid, &status, 0)
            if reaped == pid { break }
            if reaped == -1 && errno == EINTR { continue }
            // ECHILD: Foundation reaped it; wait for it to publish the status.
            for _ in 0..<500 where process.isRunning { usleep(10_000) }
            let status = process.terminationStatus
            return process.terminationReason == .uncaughtSignal ? 128 + status : status
        }
        let signalled = status & 0x7f
        return signalled == 0 ? (status >> 8) & 0xff : 128 + signalled
    }
}

/// Runs blocking work (waiting for a child process, reading its pipes) on a thread of its own. Swift's cooperative
/// pool has one thread per core, two on this machine: a test that blocks one halves what every other test in the
/// process gets, and two such tests stall them all (timing bounds of unrelated tests then fail under load).
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}

/// Waits for `process` to end off the cooperative pool; its exit status, or 128 + the signal that ended it
/// (`UseroBinary.exitStatus`: reaped with waitpid, so Foundation's `terminationReason` is not to be read after it).
@discardableResult
func waitForExit(_ process: Process) async -> Int32 {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: UseroBinary.exitStatus(of: process)) }
    }
}

