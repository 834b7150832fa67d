import Foundation
import UseroTestSupport

/// A PostgreSQL cluster of the test's own (scripts/pg-cluster.sh), for tests that stop and start the server: the shared
/// test cluster must stay up for every other suite.
final class ScratchCluster: Sendable {
    let folder: String
    /// Its URL, with the superuser's password (a database `usero` exists).
    let url: String

    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/pg-cluster.sh").path

    private init(folder: String, url: String) {
        self.folder = folder
        self.url = url
    }

    /// Starts a cluster (initdb and pg_ctl: seconds on a busy machine), waiting off the cooperative pool.
    static func start() async throws -> ScratchCluster {
        let output = try await offPool { try Self.run(["start"]) }
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
        return ScratchCluster(folder: folder, url: url)
    }

    /// Immediate-mode stop: the server exits at once, as at a power cut; its port refuses connections.
    func crash() async throws { _ = try await offPool { [folder] in try Self.run(["crash", folder]) } }
    /// Starts it again on the same port (crash recovery first), returning once it accepts connections.
    func restart() async throws { _ = try await offPool { [folder] in try Self.run(["restart", folder]) } }
    /// Stops it and deletes its folder.
    func stop() { _ = try? Self.run(["stop", folder]) }

    @discardableResult
    private static func run(_ arguments: [String]) throws -> String {
        let result = try ChildProcess.run("/bin/bash", [script] + arguments, timeout: 120)
        guard result.status == 0 else {
            throw ScriptFailed(
                description: "pg-cluster.sh \(arguments.first ?? "") failed (status \(result.status)): "
                    + String(decoding: result.stderr, as: UTF8.self))
        }
        return String(decoding: result.stdout, as: UTF8.self)
    }

    struct ScriptFailed: Error, CustomStringConvertible {
        var description: String
    }
}
