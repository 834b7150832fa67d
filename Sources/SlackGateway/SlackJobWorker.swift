public import Feedback
import Foundation
public import Logging
public import ServiceLifecycle

/// Runs due jobs beside the server: one at a time per workspace (Slack's limits are per workspace), workspaces in
/// parallel, and the uninstall scrubs on their own, so a scrub never waits behind a Slack call. Lanes refill as
/// soon as one job ends: a workspace whose Slack hangs holds only its own lane.
///
/// Jobs are claimed with a lease, so a job runs once even when several workers share the queue. On SIGTERM the
/// worker stops claiming, lets the jobs in hand finish (each is bounded by the Slack client's timeouts) and returns;
/// whatever is left resumes at the next start.
public struct SlackJobWorker: Service {
    /// Kinds that call Slack and run one at a time per workspace.
    static let slackKinds: Set<SlackJob.Kind> = [.captureReaction, .notify, .respond, .revoke]
    /// Local work with a deadline: never behind Slack calls.
    static let localKinds: Set<SlackJob.Kind> = [.uninstall]
    /// How long a claimed job is held before another worker may take it over.
    public static let lease: Int64 = 300_000
    /// Most jobs started per claim.
    static let claimLimit = 64

    let runner: SlackJobRunner
    let store: any SlackStore
    let clock: any WallClock
    let pollInterval: Duration
    let wakeup: JobWakeup
    let logger: Logger

    /// Creates the worker; `pollInterval` bounds how long it sleeps when nothing wakes it.
    public init(
        runner: SlackJobRunner, store: any SlackStore, clock: any WallClock, pollInterval: Duration,
        wakeup: JobWakeup, logger: Logger
    ) {
        self.runner = runner
        self.store = store
        self.clock = clock
        self.pollInterval = pollInterval
        self.wakeup = wakeup
        self.logger = logger
    }

    public func run() async {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                var lastPrune = ContinuousClock.now - .seconds(3600)
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    let jobs = await claim()
                    for job in jobs {
                        group.addTask {
                            _ = await runner.run(job)
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

    /// Claims the scrubs first, then one Slack job per free workspace.
    private func claim() async -> [SlackJob] {
        let now = epochMillis(clock.now())
        do {
            let local = try await store.claimDueJobs(
                now: now, limit: Self.claimLimit, lease: Self.lease, kinds: Self.localKinds)
            let slack = try await store.claimDueJobs(
                now: now, limit: Self.claimLimit, lease: Self.lease, kinds: Self.slackKinds)
            return local + slack
        } catch {
            logger.error("Slack job queue unreadable", metadata: ["error.type": "\(type(of: error))"])
            return []
        }
    }

    private func nextWait() async -> Duration {
        let now = epochMillis(clock.now())
        let all = Self.localKinds.union(Self.slackKinds)
        guard let next = try? await store.nextJobDueAt(now: now, kinds: all) else { return pollInterval }
        let wait = next - now
        return wait <= 0 ? .milliseconds(10) : min(pollInterval, .milliseconds(wait))
    }

    /// Event ids only matter while Slack may still retry (minutes); a day is plenty.
    private func pruneSeenEvents() async {
        _ = try? await store.pruneSeenEvents(before: epochMillis(clock.now()) - 86_400_000)
    }
}
