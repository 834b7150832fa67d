public import Feedback
import Foundation

/// A client's workspace settings and recovery requests: the rules behind `GET`/`PUT /api/slack/settings`,
/// `POST /api/slack/recover` and the inbox's Slack settings form.
public struct SlackWorkspace: Sendable {
    let store: any SlackStore
    let clock: any WallClock
    /// Wakes the job worker when one runs in this process.
    let wakeup: JobWakeup?

    /// Creates the service.
    public init(store: any SlackStore, clock: any WallClock, wakeup: JobWakeup?) {
        self.store = store
        self.clock = clock
        self.wakeup = wakeup
    }

    /// The client's installation (with its settings and any posting problem); `SlackGatewayError.notInstalled`
    /// when it has none.
    public func installation(clientID: String) async throws -> Installation {
        guard let installation = try await store.installation(client: clientID),
            try await store.activeInstallation(team: installation.teamId) != nil
        else { throw SlackGatewayError.notInstalled }
        return installation
    }

    /// Applies a validated change; `SlackGatewayError.notInstalled` without an installation.
    @discardableResult
    public func update(clientID: String, _ change: SlackSettingsChange) async throws -> Installation {
        guard let installation = try await store.updateSettings(client: clientID, change, at: epochMillis(clock.now())) else {
            throw SlackGatewayError.notInstalled
        }
        return installation
    }

    /// Queues a recovery sweep of the client's workspace from `since` (epoch ms; default: the last event seen),
    /// at most 7 days back, unless a queued sweep that has not started covers it. `SlackGatewayError.notInstalled`
    /// without an installation; `FeedbackError.invalid` naming `since` when it is in the future.
    public func recover(clientID: String, since: Int64?) async throws {
        let installation = try await installation(clientID: clientID)
        let now = epochMillis(clock.now())
        let sweep = try SlackRecoveryRules.manual(since: since, installation: installation, now: now)
        // A sweep of this workspace queued and not started yet that reaches as far back, asked for within the last
        // minute, covers this one: repeated requests would each read every channel at Slack's pace, side by side.
        // One that has started may have read a channel already, so a request meanwhile is a sweep of its own (and
        // the requests after it join that one). Checked and queued at once: two requests together (a double click,
        // two instances) queue one sweep.
        let queued = try await store.enqueueUnlessPending(
            NewSlackJob(clientId: clientID, teamId: installation.teamId, work: .recover(sweep), runAt: now)
        ) { job in
            guard job.clientId == clientID, case .recover(let other) = job.work else { return false }
            return !other.hasStarted && other.since <= sweep.since
                && other.until >= sweep.until - SlackRecoveryRules.mergeWindow
        }
        if queued { wakeup?.signal() }
    }

    /// Reads `since` of `POST /api/slack/recover`: an ISO 8601 instant (with or without fractional seconds).
    public static func parseSince(_ text: String?) throws -> Int64? {
        guard var text, !text.isEmpty else { return nil }
        // No instant holds a space: one here is an offset's `+` sent unescaped (`$(date -Iseconds)`), which a query
        // string reads as a space.
        if text.utf8.count <= 64 { text = text.replacingOccurrences(of: " ", with: "+") }
        guard text.utf8.count <= 64, let date = Feedback.parseISO8601(text) else {
            throw FeedbackError.invalid(issues: [
                "since": ["Must be an ISO 8601 instant, e.g. 2026-11-26T20:00:00Z (in a query string, write + as %2B)"]
            ])
        }
        return epochMillis(date)
    }

}
