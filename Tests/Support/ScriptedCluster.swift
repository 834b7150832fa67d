import Foundation

/// A PostgreSQL cluster of the test's own (scripts/pg-cluster.sh, run from the repository), for tests that stop and
/// start the server: the shared test cluster must stay up for every other suite.
public final class ScriptedCluster: Sendable {
    /// Its folder (data, server log, URL).
    public let folder: String
    /// Its URL, with the superuser's password (a database `usero` exists).
    public let url: String

    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/pg-cluster.sh").path

    private init(folder: String, url: String) {
        self.folder = folder
        self.url = url
    }

    /// Starts a cluster (initdb and pg_ctl: seconds on a busy machine), waiting off the cooperative pool.
    public static func start() async throws -> ScriptedCluster {
        let output = try await offPool { try Self.run(["start"], folder: nil) }
        var values: [String: String] = [:]
        for line in output.split(separator: "\n") where line.hasPrefix("export ") {
            let assignment = line.dropFirst("export ".count)
            guard let equals = assignment.firstIndex(of: "=") else { continue }
            values[String(assignment[..<equals])] = String(assignment[assignment.index(after: equals)...])
                .trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        }
        guard let folder = values["USERO_PG_CLUSTER"], let url = values["USERO_TEST_POSTGRES_URL"] else {
            throw ScriptFailed(description: "pg-cluster.sh start printed no cluster")
        }
        return ScriptedCluster(folder: folder, url: url)
    }

    /// Immediate-mode stop: the server exits at once, without a checkpoint, as at a power cut; its port refuses
    /// connections.
    public func crash() async throws { _ = try await offPool { [folder] in try Self.run(["crash", folder], folder: folder) } }
    /// Starts it again on the same port (crash recovery first), returning once it accepts connections. Tried up to
    /// three times a second apart: after an immediate stop on a loaded machine a backend of the old server can
    /// outlive its postmaster for a moment, and the new one refuses to start while it holds the shared memory.
    public func restart() async throws {
        for attempt in 1...3 {
            do {
                _ = try await offPool { [folder] in try Self.run(["restart", folder], folder: folder) }
                return
            } catch where attempt < 3 {
                try await Task.sleep(for: .seconds(1))
            }
        }
    }
    /// Stops it and deletes its folder.
    public func stop() { _ = try? Self.run(["stop", folder], folder: folder) }

    /// Runs the script to its end (as every test's child process: no inherited descriptors, reaped with waitpid).
    /// A failure says what the script and the server said.
    @discardableResult
    private static func run(_ arguments: [String], folder: String?) throws -> String {
        let result = try ChildProcess.run("/bin/bash", [script] + arguments, timeout: 120)
        guard result.status == 0 else {
            // runuser's pg_ctl cannot return to a working folder only root may enter (a fresh clone under a mktemp
            // folder): a warning every run prints, not the cause.
            let said = String(decoding: result.stderr, as: UTF8.self).split(separator: "\n")
                .filter { !$0.hasPrefix("could not change directory") }.joined(separator: "\n")
            let log = folder.flatMap { try? String(contentsOfFile: $0 + "/server.log", encoding: .utf8) } ?? ""
            throw ScriptFailed(
                description: "pg-cluster.sh \(arguments.first ?? "") failed (status \(result.status)): \(said)\n"
                    + "server log, last lines:\n" + log.split(separator: "\n").suffix(15).joined(separator: "\n"))
        }
        return String(decoding: result.stdout, as: UTF8.self)
    }

    struct ScriptFailed: Error, CustomStringConvertible {
        var description: String
    }
}
