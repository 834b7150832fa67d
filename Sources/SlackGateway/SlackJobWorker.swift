public import Feedback
import Foundation
public import Logging
public import ServiceLifecycle

/// Runs due jobs beside the server: one at a time per workspace (Slack's limits are per workspace), workspaces in
/// parallel, and the uninstall scrubs on their own, so a scrub never waits behind a Slack call. Lanes refill as
/// soon as one job ends: a workspace whose Slack hangs holds only its own lane.
///
/// Jobs are claimed with a lease, so a job runs once even when several workers share the queue. On SIGTERM the
/// worker stops claiming and lets the jobs in hand finish, for at most `drainTimeout` (10 s by default: a worker
/// with many lanes each waiting on a slow Slack was seen to hold a shutdown for 45 s). Then the jobs still running
/// are cancelled and handed back (their lease released, due at once, no attempt counted), so the next start (or
/// another instance) takes them over without waiting out the lease.
public struct SlackJobWorker: Service {
    /// Kinds that call Slack and run one at a time per workspace: the captures and what answers them.
    static let slackKinds: Set<SlackJob.Kind> = [.captureReaction, .notify, .respond, .revoke]
    /// Local work with a deadline: never behind Slack calls.
    static let localKinds: Set<SlackJob.Kind> = [.uninstall]
    /// What the service sends on its own initiative: posts to the notify channel (paced, in order), the deletion
    /// of posts whose items were deleted, and Home tabs. Their own lane, so a burst of posts never delays a capture or
    /// an uninstall.
    static let outboundKinds: Set<SlackJob.Kind> = [.postFeedback, .publishHome, .unpost]
    /// Recovery sweeps: their own lane, so a sweep waiting out `conversations.history`'s limits never holds a live
    /// capture back.
    static let recoveryKinds: Set<SlackJob.Kind> = [.recover]
    /// Every lane, in claim order: each runs at most one job per workspace at a time.
    static let lanes = [localKinds, slackKinds, outboundKinds, recoveryKinds]
    /// How long a claimed job is held before another worker may take it over: a minute, twice the longest job
    /// (two sequential Web API calls of at most 10 s each, and the store's writes). While it runs, the lane runs
    /// nothing else of that workspace, so an instance that dies holding one stalls that workspace's captures and
    /// answers on every instance until it ends: five minutes, before.
    public static let lease: Int64 = 60_000
    /// The lease of the local lane (uninstall scrubs): short, so that when the instance holding one dies, another
    /// instance takes the scrub over well within the 60-second promise (a scrub takes seconds; running one twice
    /// changes nothing).
    public static let localLease: Int64 = 15_000

    /// The lease of a lane's jobs.
    static func lease(for lane: Set<SlackJob.Kind>) -> Int64 { lane == localKinds ? localLease : lease }
    /// Most jobs started per claim.
    static let claimLimit = 64

    let runner: SlackJobRunner
    let store: any SlackStore
    let clock: any WallClock
    let pollInterval: Duration
    let wakeup: JobWakeup
    let logger: Logger
    /// Longest a graceful shutdown waits for the jobs in hand.
    let drainTimeout: Duration

    /// Creates the worker; `pollInterval` bounds how long it sleeps when nothing wakes it.
    public init(
        runner: SlackJobRunner, store: any SlackStore, clock: any WallClock, pollInterval: Duration,
        wakeup: JobWakeup, logger: Logger, drainTimeout: Duration = .seconds(10)
    ) {
        self.drainTimeout = drainTimeout
        self.runner = runner
        self.store = store
        self.clock = clock
        self.pollInterval = pollInterval
        self.wakeup = wakeup
        self.logger = logger
    }

    public func run() async {
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
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    if ContinuousClock.now - lastBeat >= SlackRecoveryRules.heartbeatInterval {
                        // The first beat after a downtime queues the recovery sweeps of the missed window.
                        await heartbeat()
                        lastBeat = .now
                    }
                    let jobs = await claim()
                    for job in jobs {
                        group.addTask {
                            let result = await runner.run(job)
                            if Task.isCancelled && result == .retryLater { await handBack(job) }
                            // The workspace's lane is free again: refill it now, not at the next poll.
                            wakeup.signal()
                        }
                    }
                    if ContinuousClock.now - lastPrune > .seconds(600) {
                        await pruneSeenEvents()
                        lastPrune = .now
                    }
                    if !jobs.isEmpty { continue }
                    await wakeup.wait(upTo: await nextWait())
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
            (try? await store.rescheduleJob(job.id, runAt: now, countAttempt: false, error: "shutdown")) != nil
        }.value
        logger.info(
            "Slack job handed back at shutdown",
            metadata: ["slack.job_id": "\(job.id)", "slack.job_kind": "\(job.kind.rawValue)", "released": "\(released)"])
    }

    /// Records that the service is alive; after a downtime this queues the recovery sweeps.
    func heartbeat() async {
        do {
            let sweeps = try await store.heartbeat(at: epochMillis(clock.now()))
            if sweeps > 0 {
                logger.info("Slack recovery queued after downtime", metadata: ["slack.sweeps": "\(sweeps)"])
                wakeup.signal()
            }
        } catch {
            logger.error("Slack heartbeat failed", metadata: ["error.type": "\(type(of: error))"])
        }
    }

    /// Claims the scrubs first, then one job per free workspace in each lane: all lanes in one transaction.
    private func claim() async -> [SlackJob] {
        do {
            return try await store.claimDueJobs(now: epochMillis(clock.now()), lanes: Self.claimLanes)
        } catch {
            logger.error("Slack job queue unreadable", metadata: ["error.type": "\(type(of: error))"])
            return []
        }
    }

    static let claimLanes = lanes.map { SlackJobLane(kinds: $0, limit: claimLimit, lease: lease(for: $0)) }

    private func nextWait() async -> Duration {
        let now = epochMillis(clock.now())
        let all = Self.lanes.reduce(into: Set<SlackJob.Kind>()) { $0.formUnion($1) }
        guard let next = try? await store.nextJobDueAt(now: now, kinds: all) else { return pollInterval }
        let wait = next - now
        return wait <= 0 ? .milliseconds(10) : min(pollInterval, .milliseconds(wait))
    }

    /// Event ids only matter while Slack may still retry (minutes); a day is plenty. (Removed captures and erased
    /// members go with the retention sweep, which runs whether Slack is configured or not: `SlackAccountData`.)
    private func pruneSeenEvents() async {
        _ = try? await store.pruneSeenEvents(before: epochMillis(clock.now()) - 86_400_000)
    }
}
