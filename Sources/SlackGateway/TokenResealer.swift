public import Feedback
import Foundation
import GRDB
public import UseroCrypto

/// Re-seals installation tokens and the envelopes waiting in `slack.revoke` jobs, one short write each.
public struct TokenResealer: Sendable {
    let database: AppDatabase
    let keyRing: KeyRing

    /// A resealer over the shared store.
    public init(database: AppDatabase, keyRing: KeyRing) {
        self.database = database
        self.keyRing = keyRing
    }

    /// Counts, never tokens.
    public struct Summary: Encodable, Equatable, Sendable {
        public var resealed = 0
        public var alreadyCurrent = 0
        public var failed = 0

        /// Counts as given.
        public init(resealed: Int = 0, alreadyCurrent: Int = 0, failed: Int = 0) {
            self.resealed = resealed
            self.alreadyCurrent = alreadyCurrent
            self.failed = failed
        }
    }

    /// Re-seals everything not yet under the current key.
    public func resealAll() async throws -> Summary {
        var summary = Summary()
        let installations = try await database.read { db in try InstallationRecords.sealedInstallations(in: db) }
        for installation in installations {
            guard let envelope = installation.tokenEnvelope else { continue }
            if (try? KeyRing.keyID(ofEnvelope: envelope)) == keyRing.currentKeyID {
                summary.alreadyCurrent += 1
                continue
            }
            do {
                let sealed = try keyRing.reseal(envelope, associatedData: Array(installation.teamId.utf8))
                let keyID = keyRing.currentKeyID
                try await database.write { db in
                    try InstallationRecords.updateEnvelope(
                        team: installation.teamId, envelope: sealed, keyId: keyID, in: db)
                }
                summary.resealed += 1
            } catch {
                summary.failed += 1
            }
        }
        let jobs = try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT id, team_id, payload FROM job WHERE kind = 'slack.revoke'")
                .map { (id: $0["id"] as Int64, team: $0["team_id"] as String?, payload: $0["payload"] as String) }
        }
        for job in jobs {
            guard let team = job.team,
                var payload = try? JSONDecoder().decode([String: String].self, from: Data(job.payload.utf8)),
                let text = payload["tokenEnvelope"], let envelope = Data(base64Encoded: text).map({ [UInt8]($0) })
            else { continue }
            if (try? KeyRing.keyID(ofEnvelope: envelope)) == keyRing.currentKeyID {
                summary.alreadyCurrent += 1
                continue
            }
            do {
                let sealed = try keyRing.reseal(envelope, associatedData: Array(team.utf8))
                payload["tokenEnvelope"] = Data(sealed).base64EncodedString()
                let json = String(decoding: try JSONEncoder().encode(payload), as: UTF8.self)
                try await database.write { db in
                    try db.execute(sql: "UPDATE job SET payload = ? WHERE id = ?", arguments: [json, job.id])
                }
                summary.resealed += 1
            } catch {
                summary.failed += 1
            }
        }
        return summary
    }
}
