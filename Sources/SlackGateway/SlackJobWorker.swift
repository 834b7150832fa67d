public import Feedback
import Foundation
import GRDB
public import Logging
public import ServiceLifecycle

/// Runs due jobs beside the server: one at a time per workspace (Slack's limits are per workspace), workspaces in
/// parallel. Wakes when a job is enqueued or the next one falls due; on SIGTERM it finishes the jobs in hand and
/// returns, and whatever is left resumes at the next start.
public struct SlackJobWorker: Service {
    let runner: SlackJobRunner
    let database: AppDatabase
    let clock: any WallClock
    let pollInterval: Duration
    let wakeup: JobWakeup
    let logger: Logger

    /// Creates the worker; `pollInterval` bounds how long it sleeps when nothing wakes it.
    public init(
        runner: SlackJobRunner, database: AppDatabase, clock: any WallClock, pollInterval: Duration,
        wakeup: JobWakeup, logger: Logger
    ) {
        self.runner = runner
        self.database = database
        self.clock = clock
        self.pollInterval = pollInterval
        self.wakeup = wakeup
        self.logger = logger
    }

    public func run() async {
        await withGracefulShutdownHandler {
            var lastPrune = ContinuousClock.now - .seconds(3600)
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let ran = await runDueJobs()
                if ContinuousClock.now - lastPrune > .seconds(600) {
                    await pruneSeenEvents()
                    lastPrune = .now
                }
                if ran > 0 { continue }
                await wakeup.wait(upTo: await nextWait())
            }
        } onGracefulShutdown: {
            wakeup.signal()
        }
    }

    /// Runs every job due now; returns how many ran.
    @discardableResult
    public func runDueJobs() async -> Int {
        let now = epochMillis(clock.now())
        let jobs: [SlackJob]
        do {
            jobs = try await database.read { db in try JobQueue.due(at: now, limit: 256, in: db) }
        } catch {
            logger.error("Slack job queue unreadable", metadata: ["error.type": "\(type(of: error))"])
            return 0
        }
        guard !jobs.isEmpty else { return 0 }
        var lanes: [String: [SlackJob]] = [:]
        for job in jobs { lanes[job.teamId ?? "job-\(job.id)", default: []].append(job) }
        let runner = self.runner
        await withTaskGroup(of: Void.self) { group in
            for lane in lanes.values {
                group.addTask {
                    for job in lane {
                        if Task.isCancelled { return }
                        // A 429 postpones this workspace's remaining work of that kind; leave the rest for later.
                        if await runner.run(job) == .rateLimited { return }
                    }
                }
            }
        }
        return jobs.count
    }

    private func nextWait() async -> Duration {
        guard let next = try? await database.read({ db in try JobQueue.nextRunAt(in: db) }) else { return pollInterval }
        let wait = next - epochMillis(clock.now())
        return wait <= 0 ? .zero : min(pollInterval, .milliseconds(wait))
    }

    /// Event ids only matter while Slack may still retry (minutes); a day is plenty.
    private func pruneSeenEvents() async {
        let cutoff = epochMillis(clock.now()) - 86_400_000
        _ = try? await database.write { db in
            try db.execute(sql: "DELETE FROM slack_event_seen WHERE seen_at < ?", arguments: [cutoff])
        }
    }
}
