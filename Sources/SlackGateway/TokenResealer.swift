import Feedback
import Foundation
public import UseroCrypto

/// Re-seals installation tokens and the envelopes waiting in jobs (`slack.revoke`, and a closed account's
/// `slack.unpost`), one short write each.
public struct TokenResealer: Sendable {
    let store: any SlackStore
    let keyRing: KeyRing

    /// A resealer over the store.
    public init(store: any SlackStore, keyRing: KeyRing) {
        self.store = store
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

    /// How many workspaces' tokens were sealed under a key the ring does not hold: a `USERO_TOKEN_KEY` that is not the
    /// one they were sealed with (nor among the previous keys), whose captures and posts all fail until it is.
    public func installationsWithAnUnknownKey() async throws -> Int {
        try await store.sealedInstallations().count { installation in
            installation.tokenEnvelope.map { !keyRing.holdsKey(of: $0) } ?? false
        }
    }

    /// Re-seals everything not yet under the current key.
    public func resealAll() async throws -> Summary {
        var summary = Summary()
        for installation in try await store.sealedInstallations() {
            guard let envelope = installation.tokenEnvelope else { continue }
            if (try? KeyRing.keyID(ofEnvelope: envelope)) == keyRing.currentKeyID {
                summary.alreadyCurrent += 1
                continue
            }
            do {
                let sealed = try keyRing.reseal(envelope, associatedData: Array(installation.teamId.utf8))
                // Compare-and-swap: a reinstall that wrote a new token meanwhile wins, and is current already.
                if try await store.replaceTokenEnvelope(
                    team: installation.teamId, expected: envelope, with: sealed, keyId: keyRing.currentKeyID)
                {
                    summary.resealed += 1
                } else {
                    summary.alreadyCurrent += 1
                }
            } catch {
                summary.failed += 1
            }
        }
        for job in try await store.pendingJobs(kind: .revoke, team: nil) + store.pendingJobs(kind: .unpost, team: nil) {
            guard let team = job.teamId, let (envelope, resealed) = Self.sealedToken(of: job.work) else { continue }
            if (try? KeyRing.keyID(ofEnvelope: envelope)) == keyRing.currentKeyID {
                summary.alreadyCurrent += 1
                continue
            }
            do {
                let sealed = try keyRing.reseal(envelope, associatedData: Array(team.utf8))
                if try await store.replaceJobWork(jobID: job.id, expected: job.work, with: resealed(sealed)) {
                    summary.resealed += 1
                }
            } catch {
                summary.failed += 1
            }
        }
        return summary
    }

    /// The sealed token a job carries, and the same work carrying another envelope; nil for a job that carries none.
    static func sealedToken(of work: SlackJob.Work) -> ([UInt8], ([UInt8]) -> SlackJob.Work)? {
        switch work {
        case .revoke(let payload):
            payload.envelope.map { ($0, { .revoke(RevokeJob(envelope: $0)) }) }
        case .unpost(let payload):
            payload.envelope.map { ($0, { .unpost(UnpostJob(channel: payload.channel, ts: payload.ts, envelope: $0)) }) }
        default: nil
        }
    }
}
