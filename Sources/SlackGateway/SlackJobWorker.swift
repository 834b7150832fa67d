public import Feedback
import Foundation
import UseroCrypto
import Synchronization
public import Logging
public import ServiceLifecycle

/// Runs due jobs beside the server: one at a time per workspace in each lane (`lanes`; Slack's limits are per
/// workspace), workspaces in parallel, and the uninstall scrubs on their own, so a scrub never waits behind a Slack
/// call. Lanes refill as soon as one job ends: a workspace whose Slack hangs holds only its own lane.
///
/// Jobs are claimed with a lease, so a job runs once even when several workers share the queue. On SIGTERM the
/// worker stops claiming and lets the jobs in hand finish, for at most `drainTimeout` (10 s by default: a worker
/// with many lanes each waiting on a slow Slack was seen to hold a shutdown for 45 s). Then the jobs still running
/// are cancelled and handed back (their lease released, due at once, no attempt counted), so the next start (or
/// another instance) takes them over without waiting out the lease.
public struct SlackJobWorker: Service {
    /// Kinds that call Slack and run one at a time per workspace: the captures and what answers them.
    static let slackKinds: Set<SlackJob.Kind> = [.captureReaction, .notify, .respond]
    /// Local work with a deadline: never behind Slack calls.
    static let localKinds: Set<SlackJob.Kind> = [.uninstall]
    /// What the service sends on its own initiative: posts to the notify channel (paced, in order), the deletion
    /// of posts whose items were deleted, Home tabs, and a closed account's revocation, queued after the deletions
    /// of its posts so that it runs after them. Their own lane, so a burst of posts never delays a capture or an
    /// uninstall.
    static let outboundKinds: Set<SlackJob.Kind> = [.postFeedback, .publishHome, .unpost, .revoke]
    /// Recovery sweeps and the daily token checks: their own lane, so a sweep waiting out `conversations.history`'s
    /// limits never holds a live capture back.
    static let recoveryKinds: Set<SlackJob.Kind> = [.recover, .checkToken]
    /// Every lane, in claim order: each runs at most one job per workspace at a time.
    static let lanes = [localKinds, slackKinds, outboundKinds, recoveryKinds]
    /// How long a claimed job is held before another worker may take it over, unless the worker holding it renews it
    /// (every `leaseRenewal` while the job runs, `renewLeases`). Short, so that when an instance dies holding jobs
    /// another takes them over within seconds: an uninstall scrub well within the 60-second promise, and a
    /// workspace's captures and answers (held behind its running job, one per workspace) without a minute's stall.
    /// Renewed, a job may run longer than this (two Web API calls of up to 10 s each, a sweep's step).
    public static let lease: Int64 = 15_000
    /// How often the leases of the jobs in hand are renewed: a third of the lease, so that two renewals can fail (a
    /// slow store) before another instance may take a job that is still running.
    static let leaseRenewal: Duration = .milliseconds(lease / 3)

    /// Most jobs started per claim.
    static let claimLimit = 64

    /// How long a workspace's token goes without a `slack.check` (a day, epoch ms): a workspace that uninstalled
    /// while its `app_uninstalled` could not reach usero (an outage of the network or the load balancer longer than
    /// Slack's retries, which the startup sweep after usero's own downtime does not cover) is found within this.
    public static let tokenCheckInterval: Int64 = 86_400_000
    /// Most checks one beat queues (a beat every 30 s: 12,000 workspaces an hour after an upgrade finds them all
    /// unchecked).
    static let tokenChecksPerBeat = 100

    let runner: SlackJobRunner
    let store: any SlackStore
    let clock: any WallClock
    let pollInterval: Duration
    let wakeup: JobWakeup
    let logger: Logger
    /// The jobs this worker is running (each under the claim it took it with), whose leases it renews.
    let inHand = InHandJobs()
    /// Longest a graceful shutdown waits for the jobs in hand.
    let drainTimeout: Duration
    /// How often the worker records that the service is alive and queues the tokens' checks that are due.
    let beatInterval: Duration
    /// How long a token goes unchecked (`tokenCheckInterval`; tests shorten it), epoch ms.
    let tokenCheckAge: Int64

    /// Creates the worker; `pollInterval` bounds how long it sleeps when nothing wakes it.
    public init(
        runner: SlackJobRunner, store: any SlackStore, clock: any WallClock, pollInterval: Duration,
        wakeup: JobWakeup, logger: Logger, drainTimeout: Duration = .seconds(10),
        beatInterval: Duration = SlackRecoveryRules.heartbeatInterval, tokenCheckAge: Int64 = Self.tokenCheckInterval
    ) {
        self.drainTimeout = drainTimeout
        self.beatInterval = beatInterval
        self.tokenCheckAge = tokenCheckAge
        self.runner = runner
        self.store = store
        self.clock = clock
        self.pollInterval = pollInterval
        self.wakeup = wakeup
        self.logger = logger
    }

    public func run() async {
        // Jobs another instance sharing the store leaves to this one (it lacks the key of their workspace's token)
        // wake this worker at once, not at its next poll. Not awaited at the end: a listener that is connecting to
        // a server that does not answer must not hold the shutdown.
        let listener = Task { [store, wakeup] in await store.listenForJobsLeftHere { wakeup.signal() } }
        defer { listener.cancel() }
        await serve()
    }

    private func serve() async {
        await withTaskGroup(of: Void.self) { top in
            top.addTask { await runLoop() }
            // The drain bound: from the shutdown signal, `drainTimeout`; then the loop and its jobs are cancelled.
            top.addTask {
                do {
                    try await gracefulShutdown()
                    try await Task.sleep(for: drainTimeout)
                } catch {
                    return  // cancelled: the loop ended first
                }
                logger.warning(
                    "Slack jobs still running at the drain bound: cancelled and handed back",
                    metadata: ["slack.drain_seconds": "\(drainTimeout.components.seconds)"])
            }
            await top.next()
            top.cancelAll()
        }
    }

    private func runLoop() async {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                var lastPrune = ContinuousClock.now - .seconds(3600)
                var lastBeat = ContinuousClock.now - .seconds(3600)
                var lastRenewal = ContinuousClock.now
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    if ContinuousClock.now - lastBeat >= beatInterval {
                        // The first beat after a downtime queues the recovery sweeps of the missed window; every
                        // beat queues the tokens' checks that are due.
                        await heartbeat()
                        lastBeat = .now
                    }
                    let jobs = await claim()
                    inHand.withLock { $0.formUnion(jobs.map(\.lease)) }
                    for job in jobs {
                        group.addTask {
                            let result = await runner.run(job)
                            inHand.withLock { _ = $0.remove(job.lease) }
                            if Task.isCancelled && result == .retryLater { await handBack(job) }
                            // The workspace's lane is free again: refill it now, not at the next poll.
                            wakeup.signal()
                        }
                    }
                    if ContinuousClock.now - lastRenewal >= Self.leaseRenewal {
                        await renewLeases()
                        lastRenewal = .now
                    }
                    if ContinuousClock.now - lastPrune > .seconds(600) {
                        await pruneSeenEvents()
                        lastPrune = .now
                    }
                    if !jobs.isEmpty { continue }
                    // Woken at least once a renewal period while jobs are in hand, to renew their leases.
                    let wait = await nextWait()
                    await wakeup.wait(upTo: inHand.withLock { $0.isEmpty } ? wait : min(wait, Self.leaseRenewal))
                }
            }
        } onGracefulShutdown: {
            wakeup.signal()
        }
    }

    /// Runs every job that can run now, lane by lane, until none is left; returns how many ran. (Tests and
    /// commands use it; the service runs `run()`.)
    @discardableResult
    public func runDueJobs() async -> Int {
        var total = 0
        while true {
            let jobs = await claim()
            if jobs.isEmpty { return total }
            total += jobs.count
            await withDiscardingTaskGroup { group in
                for job in jobs { group.addTask { _ = await runner.run(job) } }
            }
        }
    }

    /// Releases a job cut short by the drain bound, so it is due again at once instead of after its lease. Run
    /// outside the cancelled task (a store call in a cancelled task may refuse to start).
    private func handBack(_ job: SlackJob) async {
        let store = store
        let now = epochMillis(clock.now())
        let released = await Task.detached {
            (try? await store.rescheduleJob(job, runAt: now, countAttempt: false, error: "shutdown")) != nil
        }.value
        logger.info(
            "Slack job handed back at shutdown",
            metadata: ["slack.job_id": "\(job.id)", "slack.job_kind": "\(job.kind.rawValue)", "released": "\(released)"])
    }

    /// Extends the leases of the jobs this worker is running, in one store call. A failure is logged and left: the
    /// next renewal comes a third of a lease later.
    func renewLeases() async {
        let leases = inHand.withLock { Array($0) }
        guard !leases.isEmpty else { return }
        let now = epochMillis(clock.now())
        do {
            try await store.renewJobLeases(leases, now: now, until: now + Self.lease)
        } catch {
            logger.warning("Slack job leases not renewed", metadata: errorMetadata(error))
        }
    }

    /// Records that the service is alive; after a downtime this queues the recovery sweeps. Then queues the checks
    /// of the tokens not checked for `tokenCheckAge`.
    func heartbeat() async {
        let now = epochMillis(clock.now())
        do {
            let sweeps = try await store.heartbeat(at: now)
            if sweeps > 0 {
                logger.info("Slack recovery queued after downtime", metadata: ["slack.sweeps": "\(sweeps)"])
                wakeup.signal()
            }
        } catch {
            logger.error("Slack heartbeat failed", metadata: errorMetadata(error))
        }
        do {
            let checks = try await store.queueTokenChecks(
                checkedBefore: now - tokenCheckAge, at: now, limit: Self.tokenChecksPerBeat)
            if checks > 0 {
                logger.debug("Slack token checks queued", metadata: ["slack.checks": "\(checks)"])
                wakeup.signal()
            }
        } catch {
            logger.error("Slack token checks not queued", metadata: errorMetadata(error))
        }
    }

    /// What this worker leaves to other instances: jobs that would open a workspace's token sealed under a key it
    /// lacks, for a day (then they are taken, and fail as any job whose token cannot be opened).
    func keyFilter(now: Int64) -> SlackJobKeyFilter {
        SlackJobKeyFilter(keyIDs: runner.keyRing.keyIDs, queuedAfter: now - SlackJobRunner.rateLimitedGiveUpAge)
    }

    /// Claims the scrubs first, then one job per free workspace in each lane: all lanes in one transaction.
    private func claim() async -> [SlackJob] {
        do {
            let now = epochMillis(clock.now())
            return try await store.claimDueJobs(now: now, lanes: Self.claimLanes, passingOver: keyFilter(now: now))
        } catch {
            logger.error("Slack job queue unreadable", metadata: errorMetadata(error))
            return []
        }
    }

    static let claimLanes = lanes.map { SlackJobLane(kinds: $0, limit: claimLimit, lease: lease) }

    private func nextWait() async -> Duration {
        let now = epochMillis(clock.now())
        let all = Self.lanes.reduce(into: Set<SlackJob.Kind>()) { $0.formUnion($1) }
        guard let next = try? await store.nextJobDueAt(now: now, kinds: all, passingOver: keyFilter(now: now)) else {
            return pollInterval
        }
        let wait = next - now
        return wait <= 0 ? .milliseconds(10) : min(pollInterval, .milliseconds(wait))
    }

    /// Event ids only matter while Slack may still retry (minutes); a day is plenty. (Removed captures and erased
    /// members go with the retention sweep, which runs whether Slack is configured or not: `SlackAccountData`.)
    private func pruneSeenEvents() async {
        _ = try? await store.pruneSeenEvents(before: epochMillis(clock.now()) - 86_400_000)
    }
}

/// The jobs a worker is running, with their claims (a class, so that the worker's copies share it).
final class InHandJobs: Sendable {
    private let leases = Mutex(Set<SlackJobLease>())

    func withLock<T: Sendable>(_ body: (inout Set<SlackJobLease>) -> T) -> T { leases.withLock { body(&$0) } }
}
