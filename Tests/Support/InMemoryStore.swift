public import Feedback
public import Foundation
public import Inbox
public import Retention
public import SlackGateway
import Synchronization

/// An in-memory implementation of every store protocol, for unit tests of the services, the Slack ingest, the job
/// runner and the sweeps: fast, no files, no sleeps. It keeps the same rules the adapters keep (closing clients are
/// unknown, one row per Slack message, leases), so a test that passes here tests the module, not the fake.
public final class InMemoryStore: Sendable {
    public struct Row<Value: Sendable>: Sendable {
        public var value: Value
    }

    public struct StoredJob: Sendable {
        public var job: SlackJob
        public var leaseUntil: Int64?
        public var lastError: String?
        public var createdOrder: Int64
        /// What the job has done so far (the uninstall scrub's rows).
        public var progress = 0
    }

    public struct State: Sendable {
        public var clients: [String: (client: Client, keyHash: [UInt8])] = [:]
        public var closing: [String: (requestedAt: Int64, counts: DeletionCounts)] = [:]
        public var feedback: [String: FeedbackItem] = [:]
        /// Each upload, with the items that name it (none: unattached); it goes with the last of them.
        public var screenshots: [String: (record: StoredScreenshot, namedBy: Set<String>, bytes: [UInt8])] = [:]
        public var installations: [String: Installation] = [:]
        /// `noteTokenRefusal`'s first and last refusals, by team (for the token the installation holds).
        public var tokenRefusals: [String: (first: Int64, last: Int64)] = [:]
        /// When each installation's token was last queued for a check (`queueTokenChecks`), by team.
        public var tokenChecks: [String: Int64] = [:]
        public var tombstones: [String: String?] = [:]
        public var seenEvents: [String: Int64] = [:]
        public var oauthStates: [String: (clientID: String, expiresAt: Int64)] = [:]
        public var jobs: [Int64: StoredJob] = [:]
        public var nextJobID: Int64 = 1
        public var endUsers: [String: EndUser] = [:]
        public var endUserClients: [String: String] = [:]
        public var audit: [(id: Int64, entry: AuditEntry)] = []
        public var writes = 0
        public var heartbeat: Int64?
        public var inboxSessions: [String: StoredInboxSession] = [:]
        public var scheduledRuns: [String: Int64] = [:]
        /// Captured messages deleted on purpose lately, by client, team, channel and ts: when.
        public var removedCaptures: [[String]: Int64] = [:]
        /// Slack members erased lately, by client and member key (`ErasedMembers`): when.
        public var erasedMembers: [[String]: Int64] = [:]
        /// Where each item's posts to a notify channel went, by item id.
        public var posts: [String: [PostedMessage]] = [:]
        /// Each item's `Idempotency-Key` digests, by item id (the item itself is kept without them, as read back).
        public var submissionKeys: [String: SubmissionKey] = [:]
    }

    private let state = Mutex(State())
    /// Runs after every `finishJob` write (a test stands in for another instance acting at that instant).
    private let afterFinishJob = Mutex<(@Sendable (Int64) async throws -> Void)?>(nil)

    /// Sets what runs after every `finishJob` write.
    public func onFinishJob(_ hook: (@Sendable (Int64) async throws -> Void)?) {
        afterFinishJob.withLock { $0 = hook }
    }
    /// Runs after every `rescheduleJob` and `holdJobs` write (another instance acting at that instant).
    private let afterRetryWrite = Mutex<(@Sendable () async throws -> Void)?>(nil)

    /// Sets what runs after every `rescheduleJob` and `holdJobs` write.
    public func onRetryWrite(_ hook: (@Sendable () async throws -> Void)?) {
        afterRetryWrite.withLock { $0 = hook }
    }
    /// Whether accepting an api/widget item also enqueues its Slack posts, in the same write (as the executable
    /// turns it on for the real backends when Slack is configured).
    let postsNewFeedbackToSlack: Bool

    /// The workers listening for jobs other instances leave (`listenForJobsLeftHere`).
    private let jobsLeftListeners = Mutex((next: 0, wakes: [Int: @Sendable () -> Void]()))

    /// An empty store.
    public init(postsNewFeedbackToSlack: Bool = false) {
        self.postsNewFeedbackToSlack = postsNewFeedbackToSlack
    }

    /// Reads or changes the state directly (tests arrange and inspect through it).
    public func withState<T>(_ body: (inout State) throws -> T) rethrows -> T {
        try state.withLock { try body(&$0) }
    }

    /// Every job in the queue, by id.
    public var jobs: [SlackJob] { withState { $0.jobs.values.sorted { $0.job.id < $1.job.id }.map(\.job) } }

    func write<T>(_ body: (inout State) throws -> T) rethrows -> T {
        try state.withLock { state in
            state.writes += 1
            // A failing write changes nothing: work on a copy, keep it only on success.
            var copy = state
            let result = try body(&copy)
            state = copy
            return result
        }
    }

    static func isLive(_ id: String, in state: State) -> Bool { state.clients[id] != nil && state.closing[id] == nil }
}

// MARK: FeedbackStore

extension InMemoryStore: FeedbackStore, StoreHealth {
    public func createClient(name: String, plan: Plan, allowedOrigins: [String], at: Date) async throws
        -> (Client, String)
    {
        let client = Client(id: Identifiers.newClientID(), name: name, plan: plan, allowedOrigins: allowedOrigins, createdAt: at)
        let key = Identifiers.newAdminKey()
        write { $0.clients[client.id] = (client, Identifiers.adminKeyHash(key)) }
        return (client, key)
    }

    public func client(id: String) async throws -> Client? {
        withState { Self.isLive(id, in: $0) ? $0.clients[id]?.client : nil }
    }

    public func client(adminKey: String) async throws -> Client? {
        let hash = Identifiers.adminKeyHash(adminKey)
        return withState { state in
            state.clients.values.first { $0.keyHash == hash && Self.isLive($0.client.id, in: state) }?.client
        }
    }

    public func rotateAdminKey(clientID: String) async throws -> String? {
        let key = Identifiers.newAdminKey()
        return write { state in
            guard Self.isLive(clientID, in: state) else { return nil }
            state.clients[clientID]?.keyHash = Identifiers.adminKeyHash(key)
            return key
        }
    }

    public func updateClient(clientID: String, plan: Plan?, allowedOrigins: [String]?) async throws -> Client? {
        write { state in
            guard Self.isLive(clientID, in: state) else { return nil }
            if let plan { state.clients[clientID]?.client.plan = plan }
            if let allowedOrigins { state.clients[clientID]?.client.allowedOrigins = allowedOrigins }
            return state.clients[clientID]?.client
        }
    }

    public func liveClients() async throws -> [Client] {
        withState { state in
            state.clients.values.map(\.client).filter { Self.isLive($0.id, in: state) }
                .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        }
    }

    public func insert(_ draft: FeedbackDraft, at: Date, origin: String?) async throws -> FeedbackItem {
        try write { state in
            guard Self.isLive(draft.clientId, in: state), let client = state.clients[draft.clientId]?.client else {
                throw FeedbackError.unknownClient
            }
            guard client.allows(origin: origin) else { throw FeedbackError.originNotAllowed }
            var kept = draft
            kept.submissionKey = nil
            if let key = draft.submissionKey {
                let repeated = state.submissionKeys.first { id, stored in
                    stored.key == key.key && state.feedback[id]?.clientId == draft.clientId
                }
                if let (id, stored) = repeated, let first = state.feedback[id] {
                    return try key.repeated(
                        first, storedAs: id, createdAtMillis: epochMillis(first.createdAt), storedContent: stored.content)
                }
            }
            let item = FeedbackItem(newAt: at, draft: kept)
            try Self.insert(item, into: &state)
            if let key = draft.submissionKey { state.submissionKeys[item.id] = key }
            if postsNewFeedbackToSlack {
                let installations = state.installations.values.filter { Self.active(team: $0.teamId, in: state) != nil }
                for job in SlackNotificationRules.jobs(for: item, installations: Array(installations)) {
                    Self.enqueue(job, into: &state)
                }
            }
            return item
        }
    }

    struct DuplicateSlackMessage: Error {}

    static func insert(_ item: FeedbackItem, into state: inout State) throws {
        if let slack = item.draft.slack, let ts = slack.messageTs,
            capturedID(client: item.clientId, team: slack.teamId, channel: slack.channelId ?? "", ts: ts, in: state) != nil
        {
            throw DuplicateSlackMessage()
        }
        state.feedback[item.id] = item
        for shot in item.draft.screenshots where state.screenshots[shot.fileName]?.record.clientId == item.clientId {
            state.screenshots[shot.fileName]?.namedBy.insert(item.id)
        }
    }

    public func feedback(id: String, clientID: String) async throws -> FeedbackItem? {
        withState { state in state.feedback[id].flatMap { $0.clientId == clientID ? $0 : nil } }
    }

    public func listFeedback(clientID: String, filter: FeedbackFilter, limit: Int, after cursor: FeedbackCursor?)
        async throws -> FeedbackPage
    {
        let items = listed(clientID: clientID, filter: filter).filter { item in
            guard let cursor else { return true }
            let millis = epochMillis(item.createdAt)
            return millis < cursor.createdAtMillis || (millis == cursor.createdAtMillis && item.id < cursor.id)
        }
        let sorted = items.sorted {
            (epochMillis($0.createdAt), $0.id) > (epochMillis($1.createdAt), $1.id)
        }
        return FeedbackPage(fetched: Array(sorted.prefix(limit + 1)), limit: limit)
    }

    public func newerPageCursor(clientID: String, filter: FeedbackFilter, limit: Int, before cursor: FeedbackCursor)
        async throws -> FeedbackCursor?
    {
        let newer = listed(clientID: clientID, filter: filter)
            .map { (createdAtMillis: epochMillis($0.createdAt), id: $0.id) }
            .filter { ($0.createdAtMillis, $0.id) > (cursor.createdAtMillis, cursor.id) }
            .sorted { ($0.createdAtMillis, $0.id) < ($1.createdAtMillis, $1.id) }
        let index = max(0, limit - 1)
        return index < newer.count ? FeedbackCursor(createdAtMillis: newer[index].createdAtMillis, id: newer[index].id) : nil
    }

    /// The client's items `filter` selects, in no order.
    private func listed(clientID: String, filter: FeedbackFilter) -> [FeedbackItem] {
        withState { state in
            state.feedback.values.filter { item in
                guard item.clientId == clientID else { return false }
                if let source = filter.source, item.draft.source != source { return false }
                if let environment = filter.environment, item.draft.environment != environment { return false }
                if let text = filter.text, !text.isEmpty {
                    // ASCII letters fold, as in every store's LIKE; a Slack message's `&`, `<`, `>` as entities too.
                    func folded(_ value: String) -> String {
                        String(String.UnicodeScalarView(value.unicodeScalars.map {
                            ("A"..."Z").contains($0) ? Unicode.Scalar($0.value + 32)! : $0
                        }))
                    }
                    let wanted = [text, text.replacingOccurrences(of: "&", with: "&amp;")
                        .replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")]
                        .map(folded)
                    let found = [item.draft.comment, item.draft.userEmail].compactMap { $0.map(folded) }
                    if !found.contains(where: { value in wanted.contains { value.contains($0) } }) { return false }
                }
                return true
            }
        }
    }

    public func environments(clientID: String, limit: Int) async throws -> [String] {
        withState { state in
            Array(Set(state.feedback.values.filter { $0.clientId == clientID }.compactMap(\.draft.environment)).sorted()
                .prefix(limit))
        }
    }

    public func deleteFeedback(id: String, clientID: String) async throws -> Bool {
        write { state in
            guard let item = state.feedback[id], item.clientId == clientID else { return false }
            Self.rememberRemoval(of: item, at: epochMillis(Date()), in: &state)
            Self.queueUnposts(of: id, at: epochMillis(Date()), in: &state)
            state.feedback[id] = nil
            Self.forgetScreenshots(of: id, in: &state)
            return true
        }
    }

    /// Takes a deleted item off the uploads it named; deletes those no other item names. Returns how many went.
    @discardableResult
    static func forgetScreenshots(of id: String, in state: inout State) -> Int {
        var gone = 0
        for (name, shot) in state.screenshots where shot.namedBy.contains(id) {
            if shot.namedBy.count == 1 {
                state.screenshots[name] = nil
                gone += 1
            } else {
                state.screenshots[name]?.namedBy.remove(id)
            }
        }
        return gone
    }

    /// Records a deleted capture's message (`RemovedCaptures`).
    /// Turns a deleted item's post into a `slack.unpost` job (`SlackStore.recordPost`).
    static func queueUnposts(of id: String, at now: Int64, in state: inout State) {
        for post in state.posts.removeValue(forKey: id) ?? [] {
            enqueue(
                NewSlackJob(
                    clientId: post.clientId, teamId: post.teamId,
                    work: .unpost(UnpostJob(channel: post.channel, ts: post.ts)), runAt: now),
                into: &state)
        }
    }

    static func rememberRemoval(of item: FeedbackItem, at now: Int64, in state: inout State) {
        guard let slack = item.draft.slack, let channel = slack.channelId, let ts = slack.messageTs,
            epochMillis(item.createdAt) >= RemovedCaptures.horizon(at: now)
        else { return }
        let key = [item.clientId, slack.teamId, channel, ts]
        state.removedCaptures[key] = max(state.removedCaptures[key] ?? now, now)
    }

    public func saveScreenshot(_ screenshot: StoredScreenshot, bytes: [UInt8], quota: Int64) async throws {
        try write { state in
            guard Self.isLive(screenshot.clientId, in: state) else { throw FeedbackError.unknownClient }
            if quota > 0 {
                let held = state.screenshots.values
                    .filter { $0.record.clientId == screenshot.clientId && $0.namedBy.isEmpty }
                    .reduce(Int64(0)) { $0 + $1.record.fileSize }
                guard held + screenshot.fileSize <= quota else {
                    throw FeedbackError.uploadQuotaExceeded(megabytes: quota / (1024 * 1024))
                }
            }
            state.screenshots[screenshot.fileName] = (screenshot, [], bytes)
        }
    }

    public func screenshot(fileName: String) async throws -> StoredScreenshot? {
        withState { state in
            state.screenshots[fileName].flatMap { Self.isLive($0.record.clientId, in: state) ? $0.record : nil }
        }
    }

    public func screenshotBytes(fileName: String) async throws -> Data? {
        withState { $0.screenshots[fileName].map { Data($0.bytes) } }
    }

    public func purgeDeletedScreenshots() async throws {}

    public func unattachedScreenshotBytes(clientID: String) async throws -> Int64 {
        withState { state in
            state.screenshots.values.filter { $0.record.clientId == clientID && $0.namedBy.isEmpty }
                .reduce(0) { $0 + $1.record.fileSize }
        }
    }

    public func isHealthy() async -> Bool { true }

    public var commitStatistics: (commits: Int, writes: Int) { withState { ($0.writes, $0.writes) } }
}

// MARK: SlackStore

extension InMemoryStore: SlackStore {
    static func capturedID(client: String, team: String, channel: String, ts: String, in state: State) -> String? {
        state.feedback.values.first {
            $0.clientId == client && $0.draft.slack?.teamId == team && $0.draft.slack?.channelId == channel
                && $0.draft.slack?.messageTs == ts
        }?.id
    }

    static func active(team: String, in state: State) -> Installation? {
        state.tombstones[team] == nil ? state.installations[team] : nil
    }

    static func enqueue(_ job: NewSlackJob, into state: inout State) {
        let id = state.nextJobID
        state.nextJobID += 1
        state.jobs[id] = StoredJob(
            job: SlackJob(
                id: id, clientId: job.clientId, teamId: job.teamId, work: job.work, runAt: job.runAt, attempts: 0,
                deadlineAt: job.deadlineAt, createdAt: job.runAt),
            leaseUntil: nil, lastError: nil, createdOrder: id)
    }

    static func recordEvent(_ id: String, at now: Int64, in state: inout State) -> Bool {
        guard state.seenEvents[id] == nil else { return false }
        state.seenEvents[id] = now
        return true
    }

    static func store(_ message: CapturedMessage, clientId: String, at now: Date, in state: inout State)
        -> (id: String, isNew: Bool)
    {
        if let ts = message.messageTs,
            let id = capturedID(client: clientId, team: message.teamId, channel: message.channelId, ts: ts, in: state)
        {
            return (id, false)
        }
        let item = FeedbackItem(newAt: now, draft: message.draft(clientId: clientId))
        state.feedback[item.id] = item
        return (item.id, true)
    }

    public func activeInstallation(team: String) async throws -> Installation? {
        withState { Self.active(team: team, in: $0) }
    }

    public func installation(client: String) async throws -> Installation? {
        withState { state in
            state.installations.values.filter { $0.clientId == client }.max { $0.installedAt < $1.installedAt }
        }
    }

    public func sealedInstallations() async throws -> [Installation] {
        withState { state in state.installations.values.filter { $0.tokenEnvelope != nil } }
    }

    public func saveInstallation(_ installation: Installation) async throws -> InstallationSaveResult {
        write { state in
            guard Self.isLive(installation.clientId, in: state) else { return .clientGone }
            if let existing = state.installations[installation.teamId], existing.clientId != installation.clientId,
                state.tombstones[installation.teamId] == nil, Self.isLive(existing.clientId, in: state)
            {
                return .ownedByAnotherClient
            }
            if let other = state.installations.values.first(where: {
                $0.clientId == installation.clientId && $0.teamId != installation.teamId && $0.tokenEnvelope != nil
                    && state.tombstones[$0.teamId] == nil
            }) {
                return .clientHasAnotherWorkspace(teamName: other.teamName ?? other.teamId)
            }
            var saved = installation
            saved.firstInstalledAt = installation.installedAt
            if let existing = state.installations[installation.teamId], existing.clientId == installation.clientId {
                saved.firstInstalledAt = existing.firstInstalledAt ?? existing.installedAt
                // Settings stay through a reinstall by the same client.
                saved.settings = existing.settings
                saved.triggerEmojiAddedAt = existing.triggerEmojiAddedAt
                saved.notifyProblem = existing.notifyProblem.flatMap {
                    NotifyProblem.mendedByReconnecting.contains($0.code) ? nil : $0
                }
            }
            state.installations[installation.teamId] = saved
            state.tokenRefusals[installation.teamId] = nil
            state.tokenChecks[installation.teamId] = nil
            state.tombstones[installation.teamId] = nil
            return .saved
        }
    }

    public func replaceTokenEnvelope(team: String, expected: [UInt8], with envelope: [UInt8], keyId: String)
        async throws -> Bool
    {
        write { state in
            guard state.installations[team]?.tokenEnvelope == expected else { return false }
            state.installations[team]?.tokenEnvelope = envelope
            state.installations[team]?.tokenKeyId = keyId
            return true
        }
    }

    public func saveOAuthState(nonce: String, clientID: String, expiresAt: Int64, pruneBefore: Int64) async throws {
        write { state in
            state.oauthStates = state.oauthStates.filter { $0.value.expiresAt >= pruneBefore }
            state.oauthStates[nonce] = (clientID, expiresAt)
        }
    }

    public func consumeOAuthState(nonce: String, clientID: String, now: Int64) async throws -> Bool {
        write { state in
            guard let found = state.oauthStates[nonce], found.clientID == clientID, found.expiresAt >= now else {
                return false
            }
            state.oauthStates[nonce] = nil
            return true
        }
    }

    public func acceptReaction(_ reaction: ReactionForward, at now: Int64) async throws -> Bool {
        write { state in
            guard let installation = Self.active(team: reaction.team, in: state), installation.captures(reaction),
                Self.recordEvent(reaction.eventId, at: now, in: &state)
            else { return false }
            let captured = Self.capturedID(
                client: installation.clientId, team: reaction.team, channel: reaction.channel, ts: reaction.ts,
                in: state)
            Self.enqueue(reaction.job(for: installation, alreadyCaptured: captured != nil, at: now), into: &state)
            return true
        }
    }

    public func acceptUninstall(team: String, eventId: String?, at now: Int64, deadline: Int64, retriedEventAt: Int64?)
        async throws -> Bool
    {
        write { state in
            if let eventId, !Self.recordEvent(eventId, at: now, in: &state) { return false }
            if let installation = state.installations[team], installation.isLater(thanRetriedEventAt: retriedEventAt) {
                Self.enqueue(
                    NewSlackJob.uninstallScrub(team: team, client: installation.clientId, at: now, deadline: deadline),
                    into: &state)
                return true
            }
            Self.uninstall(team: team, at: now, deadline: deadline, in: &state)
            return true
        }
    }

    public func acceptLostToken(team: String, envelope: [UInt8], at now: Int64, deadline: Int64) async throws -> Bool {
        write { state in
            guard state.installations[team]?.tokenEnvelope == envelope else { return false }
            Self.uninstall(team: team, at: now, deadline: deadline, in: &state)
            return true
        }
    }

    public func noteTokenRefusal(team: String, envelope: [UInt8], at now: Int64?, continuingWithin gap: Int64)
        async throws -> Int64?
    {
        write { state in
            guard state.installations[team]?.tokenEnvelope == envelope else { return nil }
            guard let now else {
                state.tokenRefusals[team] = nil
                return nil
            }
            let first = state.tokenRefusals[team].flatMap { now - $0.last > gap ? nil : $0.first } ?? now
            state.tokenRefusals[team] = (first, now)
            return first
        }
    }

    private static func uninstall(team: String, at now: Int64, deadline: Int64, in state: inout State) {
        let clientId = state.installations[team]?.clientId ?? state.tombstones[team] ?? nil
        state.tombstones[team] = .some(clientId)
        state.installations[team] = nil
        state.jobs = state.jobs.filter { _, stored in
            !(stored.job.teamId == team && SlackJob.Kind.cancelledByUninstall.contains(stored.job.kind))
        }
        enqueue(NewSlackJob.uninstallScrub(team: team, client: clientId, at: now, deadline: deadline), into: &state)
    }

    public func acceptTokensRevoked(
        team: String, eventId: String?, botUserIds: [String], at now: Int64, retriedEventAt: Int64?
    ) async throws {
        write { state in
            if let eventId, !Self.recordEvent(eventId, at: now, in: &state) { return }
            guard let installation = state.installations[team],
                !installation.isLater(thanRetriedEventAt: retriedEventAt)
            else { return }
            if let bot = installation.botUserId, !botUserIds.contains(bot) { return }
            state.installations[team]?.tokenEnvelope = nil
            state.installations[team]?.tokenKeyId = nil
            state.installations[team]?.notifyProblem = installation.settings.notifyChannel.map {
                NotifyProblem(channel: $0, code: "token_revoked", at: now)
            }
        }
    }

    public func captureForward(_ message: CapturedMessage, at now: Date, responseURL: String?) async throws
        -> CaptureResult
    {
        write { state in
            let installation = state.installations[message.teamId]
            let tombstoned = state.tombstones[message.teamId] != nil
            var result: CaptureResult
            if let refusal = SlackCaptureRules.refusal(
                installation: installation, isTombstoned: tombstoned, message: message)
            {
                result = CaptureResult(outcome: refusal, clientId: tombstoned ? nil : installation?.clientId, feedbackId: nil)
            } else if let installation {
                let (id, isNew) = Self.store(message, clientId: installation.clientId, at: now, in: &state)
                result = CaptureResult(
                    outcome: SlackCaptureRules.outcome(isNew: isNew), clientId: installation.clientId, feedbackId: id)
            } else {
                result = CaptureResult(outcome: .notInstalled, clientId: nil, feedbackId: nil)
            }
            if let responseURL {
                Self.enqueue(
                    NewSlackJob(
                        clientId: result.clientId, teamId: message.teamId,
                        work: .respond(
                            SlackCaptureRules.response(
                                url: responseURL, outcome: result.outcome, feedbackId: result.feedbackId,
                                message: message)),
                        runAt: epochMillis(now)),
                    into: &state)
            }
            return result
        }
    }

    public func capturedFeedbackID(client: String, team: String, channel: String, ts: String) async throws -> String? {
        withState { Self.capturedID(client: client, team: team, channel: channel, ts: ts, in: $0) }
    }

    public func completeCapture(
        jobID: Int64, clientID: String, message: CapturedMessage, at now: Date, notice: NotifyJob
    ) async throws -> Bool? {
        write { state in
            guard let queued = state.jobs.removeValue(forKey: jobID),
                SlackCaptureRules.mayComplete(
                    installation: state.installations[message.teamId],
                    isTombstoned: state.tombstones[message.teamId] != nil, jobClient: clientID),
                !Self.authorErased(message, clientId: clientID, since: queued.job.createdAt ?? .min, in: state)
            else { return nil }
            let (_, isNew) = Self.store(message, clientId: clientID, at: now, in: &state)
            var notice = notice
            notice.outcome = SlackCaptureRules.outcome(isNew: isNew).rawValue
            Self.enqueue(
                NewSlackJob(clientId: clientID, teamId: message.teamId, work: .notify(notice), runAt: epochMillis(now)),
                into: &state)
            return isNew
        }
    }

    public func fillPermalink(feedbackID: String, permalink: String) async throws {
        write { state in
            if state.feedback[feedbackID]?.draft.slack?.permalink == nil {
                state.feedback[feedbackID]?.draft.slack?.permalink = permalink
            }
        }
    }

    public func scrubAuthors(team: String, after cursor: Int64, limit: Int, job: Int64?) async throws
        -> (changed: Int, next: Int64?, jobTotal: Int?)
    {
        // One pass: cursors are positions in id order.
        write { state -> (changed: Int, next: Int64?, jobTotal: Int?) in
            func counted(_ changed: Int) -> Int? {
                guard let job else { return changed }
                guard state.jobs[job] != nil else { return nil }
                state.jobs[job]!.progress += changed
                return state.jobs[job]!.progress
            }
            let ids = state.feedback.values.filter { $0.draft.slack?.teamId == team }.map(\.id).sorted()
            // Installed again meanwhile: what the workspace captured since keeps its ids.
            let reinstalledAt = state.installations[team].map { dateFromEpochMillis($0.installedAt) }
            let start = Int(cursor)
            guard start < ids.count else { return (0, nil, counted(0)) }
            let slice = ids[start..<min(ids.count, start + max(limit, 1))]
            var changed = 0
            for id in slice
            where (state.feedback[id]?.draft.slack?.authorId != nil || state.feedback[id]?.draft.slack?.forwardedBy != nil)
                && reinstalledAt.map({ state.feedback[id]!.createdAt < $0 }) ?? true
            {
                state.feedback[id]?.draft.slack?.authorId = nil
                state.feedback[id]?.draft.slack?.forwardedBy = nil
                changed += 1
            }
            return (changed, Int64(start + slice.count), counted(changed))
        }
    }

    public func enqueue(_ job: NewSlackJob) async throws {
        write { Self.enqueue(job, into: &$0) }
    }

    public func claimDueJobs(now: Int64, lanes: [SlackJobLane], passingOver: SlackJobKeyFilter?) async throws
        -> [SlackJob]
    {
        write { state in
            lanes.flatMap {
                Self.claimDueJobs(
                    now: now, limit: $0.limit, lease: $0.lease, kinds: $0.kinds, passingOver: passingOver, in: &state)
            }
        }
    }

    /// Wakes once as it starts (as the PostgreSQL store does), then at each `announceJobsLeft()`, until cancelled.
    public func listenForJobsLeftHere(_ wake: @escaping @Sendable () -> Void) async {
        wake()
        let id = jobsLeftListeners.withLock { listeners in
            listeners.next += 1
            listeners.wakes[listeners.next] = wake
            return listeners.next
        }
        try? await Task.sleep(for: .seconds(365 * 86_400))
        jobsLeftListeners.withLock { _ = $0.wakes.removeValue(forKey: id) }
    }

    /// What another instance sharing a PostgreSQL store does when its claim passes jobs over: wakes every worker
    /// listening.
    public func announceJobsLeft() {
        for wake in jobsLeftListeners.withLock({ Array($0.wakes.values) }) { wake() }
    }

    /// How many workers listen (each has been woken once as it started).
    public var jobsLeftListenerCount: Int { jobsLeftListeners.withLock { $0.wakes.count } }

    /// Whether `filter` leaves `job` to another instance.
    private static func passesOver(_ job: SlackJob, _ filter: SlackJobKeyFilter?, in state: State) -> Bool {
        guard let filter, let team = job.teamId else { return false }
        let installation = state.installations[team]
        return filter.passesOver(
            kind: job.kind, createdAt: job.createdAt,
            tokenKeyID: installation?.tokenEnvelope == nil ? nil : installation?.tokenKeyId)
    }

    private static func claimDueJobs(
        now: Int64, limit: Int, lease: Int64, kinds: Set<SlackJob.Kind>, passingOver: SlackJobKeyFilter?,
        in state: inout State
    ) -> [SlackJob] {
        let busy = Set(
            state.jobs.values.filter { kinds.contains($0.job.kind) && ($0.leaseUntil ?? .min) > now }
                .compactMap(\.job.teamId))
        var teams = busy
        var claimed: [SlackJob] = []
        let limits = rateLimits(in: state)
        let oldestPosts = oldestPosts(in: state)
        let due = state.jobs.values.filter {
            kinds.contains($0.job.kind) && $0.job.runAt <= now && ($0.leaseUntil ?? .min) <= now
                && Self.rateLimitedUntil($0.job, limits).map { $0 <= now } ?? true
                && Self.postMayGo($0.job, oldestPosts, in: state).map { $0 <= now } ?? false
                && !Self.passesOver($0.job, passingOver, in: state)
        }.sorted { ($0.job.runAt, $0.job.id) < ($1.job.runAt, $1.job.id) }
        for stored in due where claimed.count < limit {
            if let team = stored.job.teamId, !teams.insert(team).inserted { continue }
            state.jobs[stored.job.id]?.leaseUntil = now + lease
            state.jobs[stored.job.id]?.job.claim += 1
            claimed.append(state.jobs[stored.job.id]?.job ?? stored.job)
        }
        return claimed
    }

    public func renewJobLeases(_ leases: [SlackJobLease], now: Int64, until: Int64) async throws {
        write { state in
            for lease in leases
            where (state.jobs[lease.id]?.leaseUntil ?? .min) > now && state.jobs[lease.id]?.job.claim == lease.claim {
                state.jobs[lease.id]?.leaseUntil = until
            }
        }
    }

    public func nextJobDueAt(now: Int64, kinds: Set<SlackJob.Kind>, passingOver: SlackJobKeyFilter?) async throws
        -> Int64?
    {
        withState { state in
            let all = state.jobs.values.filter { kinds.contains($0.job.kind) }
            let jobs = all.filter { !Self.passesOver($0.job, passingOver, in: state) }
            let leased = jobs.filter { ($0.leaseUntil ?? .min) > now }
            // A job waiting behind another job of its workspace that is under a live lease can run no earlier
            // than that lease's end, which is counted already. (A job this instance passes over, leased by
            // another, keeps its workspace busy too, as it does for the claim.)
            let busy = Set(all.filter { ($0.leaseUntil ?? .min) > now }.compactMap(\.job.teamId))
            let waiting = jobs.filter { ($0.leaseUntil ?? .min) <= now && !($0.job.teamId.map(busy.contains) ?? false) }
            let limits = Self.rateLimits(in: state)
            let oldestPosts = Self.oldestPosts(in: state)
            return (leased.compactMap(\.leaseUntil)
                + waiting.compactMap { stored in
                    Self.postMayGo(stored.job, oldestPosts, in: state).map {
                        max(stored.job.runAt, Self.rateLimitedUntil(stored.job, limits) ?? .min, $0)
                    }
                }).min()
        }
    }

    /// Each workspace's oldest post job waiting (parked ones, at `runAt` Int64.max, aside).
    private static func oldestPosts(in state: State) -> [String: Int64] {
        var oldest: [String: Int64] = [:]
        for stored in state.jobs.values where stored.job.kind == .postFeedback && stored.job.runAt < .max {
            guard let team = stored.job.teamId else { continue }
            oldest[team] = min(oldest[team] ?? .max, stored.job.id)
        }
        return oldest
    }

    /// For a post job, nil unless it is its workspace's oldest (posts leave in order), and then the pace the last one
    /// set (`holdJobs`); `.min` for every other job.
    private static func postMayGo(_ job: SlackJob, _ oldestPosts: [String: Int64], in state: State) -> Int64? {
        guard job.kind == .postFeedback, let team = job.teamId else { return .min }
        guard oldestPosts[team] == job.id else { return nil }
        return state.installations[team]?.postNotBefore ?? .min
    }

    /// Until when each workspace and kind waits out Slack's `Retry-After` (`postponeJobs`): the latest `runAt` of
    /// its jobs marked rate-limited. Computed once per claim, not once per job (a burst of 500 posts made that
    /// quadratic, and one test took a minute and a half).
    private static func rateLimits(in state: State) -> [String: Int64] {
        var limits: [String: Int64] = [:]
        for stored in state.jobs.values where stored.lastError == "ratelimited" {
            guard let team = stored.job.teamId else { continue }
            limits["\(team) \(stored.job.kind.rawValue)", default: .min] = max(
                limits["\(team) \(stored.job.kind.rawValue)", default: .min], stored.job.runAt)
        }
        return limits
    }

    /// Until when a job of `job`'s workspace and kind waits out Slack's `Retry-After`, if one does.
    private static func rateLimitedUntil(_ job: SlackJob, _ limits: [String: Int64]) -> Int64? {
        guard let team = job.teamId else { return nil }
        return limits["\(team) \(job.kind.rawValue)"]
    }

    public func finishJob(_ id: Int64, claim: Int64?, then next: NewSlackJob?) async throws -> Bool {
        let finished = write { state in
            guard let stored = state.jobs[id], stored.job.claim == claim ?? stored.job.claim else { return false }
            state.jobs[id] = nil
            if let next { Self.enqueue(next, into: &state) }
            return true
        }
        if let hook = afterFinishJob.withLock({ $0 }) { try await hook(id) }
        return finished
    }

    public func rescheduleJob(_ id: Int64, claim: Int64?, runAt: Int64, countAttempt: Bool, error: String)
        async throws
    {
        write { state in
            guard let stored = state.jobs[id], stored.job.claim == claim ?? stored.job.claim else { return }
            state.jobs[id]?.job.runAt = runAt
            if countAttempt { state.jobs[id]?.job.attempts += 1 }
            state.jobs[id]?.lastError = error
            state.jobs[id]?.leaseUntil = nil
        }
        if let hook = afterRetryWrite.withLock({ $0 }) { try await hook() }
    }

    public func markPostSent(_ job: SlackJobLease, at: Int64) async throws -> Bool {
        write { state in
            guard let stored = state.jobs[job.id], stored.job.claim == job.claim, (stored.leaseUntil ?? .min) > at
            else { return false }
            if stored.job.progress == 0 { state.jobs[job.id]?.job.progress = at }
            return true
        }
    }

    public func unmarkPostSent(_ job: SlackJobLease) async throws {
        write { state in
            if state.jobs[job.id]?.job.claim == job.claim { state.jobs[job.id]?.job.progress = 0 }
        }
    }

    /// Whether the worker that took `lease` still holds its job (true without a lease).
    static func holds(_ lease: SlackJobLease?, in state: State) -> Bool {
        guard let lease else { return true }
        return state.jobs[lease.id]?.job.claim == lease.claim
    }

    public func recordPost(_ post: PostedMessage, at now: Int64) async throws -> Bool {
        write { state in
            guard state.feedback[post.feedbackId]?.clientId == post.clientId else { return false }
            if !(state.posts[post.feedbackId] ?? []).contains(where: { $0.ts == post.ts }) {
                state.posts[post.feedbackId, default: []].append(post)
            }
            return true
        }
    }

    public func postponeJobs(team: String, kind: SlackJob.Kind, until: Int64, by lease: SlackJobLease?) async throws {
        write { state in
            guard Self.holds(lease, in: state) else { return }
            for (id, stored) in state.jobs
            where stored.job.teamId == team && stored.job.kind == kind && stored.job.runAt <= until {
                state.jobs[id]?.job.runAt = until
                state.jobs[id]?.lastError = "ratelimited"
                state.jobs[id]?.leaseUntil = nil
            }
        }
    }

    public func enqueueUnlessPending(_ job: NewSlackJob, coveredBy covers: @escaping @Sendable (SlackJob) -> Bool)
        async throws -> Bool
    {
        write { state in
            guard !state.jobs.values.map(\.job).contains(where: { $0.kind == job.work.kind && $0.teamId == job.teamId && covers($0) })
            else { return false }
            Self.enqueue(job, into: &state)
            return true
        }
    }

    public func pendingJobs(kind: SlackJob.Kind, team: String?) async throws -> [SlackJob] {
        withState { state in
            state.jobs.values.map(\.job).filter { $0.kind == kind && (team == nil || $0.teamId == team) }
        }
    }

    public func replaceJobWork(jobID: Int64, expected: SlackJob.Work, with replacement: SlackJob.Work) async throws
        -> Bool
    {
        write { state in
            guard expected.kind == replacement.kind, state.jobs[jobID]?.job.work == expected else { return false }
            state.jobs[jobID]?.job.work = replacement
            return true
        }
    }

    public func recordDelivery(_ key: String, at now: Int64) async throws -> Bool {
        write { Self.recordEvent("request:" + key, at: now, in: &$0) }
    }

    public func pruneSeenEvents(before cutoff: Int64) async throws {
        write { state in state.seenEvents = state.seenEvents.filter { $0.value >= cutoff } }
    }

    public func forgetRemovedCaptures(before cutoff: Int64) async throws {
        write { state in state.removedCaptures = state.removedCaptures.filter { $0.value >= cutoff } }
    }

    static func authorErased(_ message: CapturedMessage, clientId: String, since instant: Int64, in state: State)
        -> Bool
    {
        guard let key = ErasedMembers.authorKey(of: message, clientID: clientId) else { return false }
        return (state.erasedMembers[[clientId, key]] ?? .min) >= instant
    }

    public func recordErasedMember(clientID: String, memberKey: String, at now: Int64) async throws {
        write { state in
            guard state.clients[clientID] != nil else { return }
            state.erasedMembers[[clientID, memberKey]] = max(state.erasedMembers[[clientID, memberKey]] ?? now, now)
        }
    }

    public func forgetErasedMembers(before cutoff: Int64) async throws {
        write { state in state.erasedMembers = state.erasedMembers.filter { $0.value >= cutoff } }
    }

    // MARK: Issue 12

    public func updateSettings(client: String, _ change: SlackSettingsChange, at now: Int64) async throws
        -> Installation?
    {
        write { state in
            guard
                let current = state.installations.values.filter({
                    $0.clientId == client && state.tombstones[$0.teamId] == nil
                }).max(by: { $0.installedAt < $1.installedAt })
            else { return nil }
            let changed = current.applying(change, at: now)
            state.installations[current.teamId] = changed
            return changed
        }
    }

    public func recordNotifyProblem(
        team: String, channel: String, code: String?, at now: Int64, by lease: SlackJobLease?
    ) async throws {
        write { state in
            guard Self.holds(lease, in: state),
                state.installations[team]?.settings.notifyChannel == channel
            else { return }
            state.installations[team]?.notifyProblem = code.map { NotifyProblem(channel: channel, code: $0, at: now) }
        }
    }

    public func recordEventSeen(team: String, at now: Int64) async throws {
        write { state in
            if let last = state.installations[team]?.lastEventAt, last >= now { return }
            state.installations[team]?.lastEventAt = now
        }
    }

    public func feedbackItem(id: String, client: String) async throws -> FeedbackItem? {
        try await feedback(id: id, clientID: client)
    }

    public func holdJobs(team: String, kind: SlackJob.Kind, notBefore: Int64, by lease: SlackJobLease?) async throws {
        write { state in
            guard Self.holds(lease, in: state) else { return }
            for (id, stored) in state.jobs where stored.job.teamId == team && stored.job.kind == kind {
                state.jobs[id]?.job.runAt = max(stored.job.runAt, notBefore)
            }
            if kind == .postFeedback, let installation = state.installations[team] {
                state.installations[team]?.postNotBefore = max(installation.postNotBefore ?? 0, notBefore)
            }
        }
        if let hook = afterRetryWrite.withLock({ $0 }) { try await hook() }
    }

    public func completeRecoveryStep(
        _ job: SlackJobLease, clientID: String, messages: [CapturedMessage], next: NewSlackJob?, at now: Date
    ) async throws -> RecoveryStepOutcome {
        write { state in
            guard let held = state.jobs[job.id], held.job.claim == job.claim else { return .jobGone }
            state.jobs[job.id] = nil
            let team = next?.teamId ?? messages.first?.teamId
            if let team {
                guard
                    SlackCaptureRules.mayComplete(
                        installation: state.installations[team], isTombstoned: state.tombstones[team] != nil,
                        jobClient: clientID)
                else { return .notStored }
            }
            var stored = 0
            // The client's remembered erasures, read once for the step (as the SQL stores do).
            let erasedAt = Dictionary(
                state.erasedMembers.filter { $0.key[0] == clientID }.map { ($0.key[1], $0.value) },
                uniquingKeysWith: max)
            for message in messages where message.teamId == team {
                if let ts = message.messageTs,
                    state.removedCaptures[[clientID, message.teamId, message.channelId, ts]] != nil
                { continue }
                guard let message = ErasedMembers.recoverable(message, clientID: clientID, erasedAt: erasedAt) else {
                    continue
                }
                if Self.store(message, clientId: clientID, at: now, in: &state).isNew { stored += 1 }
            }
            if let next { Self.enqueue(next.countingRecovered(stored), into: &state) }
            return .stored(stored)
        }
    }

    public func queueTokenChecks(checkedBefore: Int64, at now: Int64, limit: Int) async throws -> Int {
        write { state in
            let queued = Set(state.jobs.values.filter { $0.job.kind == .checkToken }.compactMap(\.job.teamId))
            let due = state.installations.values.filter {
                $0.tokenEnvelope != nil && state.tombstones[$0.teamId] == nil && !queued.contains($0.teamId)
                    && (state.tokenChecks[$0.teamId] ?? $0.installedAt) < checkedBefore
            }.sorted {
                (state.tokenChecks[$0.teamId] ?? $0.installedAt, $0.teamId)
                    < (state.tokenChecks[$1.teamId] ?? $1.installedAt, $1.teamId)
            }.prefix(max(0, limit))
            for installation in due {
                state.tokenChecks[installation.teamId] = now
                Self.enqueue(
                    NewSlackJob(
                        clientId: installation.clientId, teamId: installation.teamId,
                        work: .checkToken(CheckTokenJob()), runAt: now),
                    into: &state)
            }
            return due.count
        }
    }

    public func heartbeat(at now: Int64) async throws -> Int {
        write { state in
            let previous = state.heartbeat
            state.heartbeat = max(previous ?? now, now)
            guard let sweep = SlackRecoveryRules.afterDowntime(lastAlive: previous, now: now) else { return 0 }
            let installations = state.installations.values.filter {
                $0.tokenEnvelope != nil && state.tombstones[$0.teamId] == nil
            }.sorted { $0.teamId < $1.teamId }
            for installation in installations {
                Self.enqueue(
                    NewSlackJob(
                        clientId: installation.clientId, teamId: installation.teamId, work: .recover(sweep),
                        runAt: now),
                    into: &state)
            }
            return installations.count
        }
    }

    public func acceptHomeOpened(team: String, user: String, eventId: String, at now: Int64) async throws -> Bool {
        write { state in
            guard let installation = Self.active(team: team, in: state), installation.tokenEnvelope != nil,
                !installation.isOwnBot(user: user, botId: nil), Self.recordEvent(eventId, at: now, in: &state)
            else { return false }
            Self.enqueue(
                NewSlackJob(
                    clientId: installation.clientId, teamId: team, work: .publishHome(PublishHomeJob(user: user)),
                    runAt: now),
                into: &state)
            return true
        }
    }

    public func captureCount(client: String, team: String, since: Int64) async throws -> Int {
        withState { state in
            state.feedback.values.filter {
                $0.clientId == client && $0.draft.source == .slack && $0.draft.slack?.teamId == team
                    && epochMillis($0.createdAt) >= since
            }.count
        }
    }

    public func handOverTokens(clientID: String, at now: Int64) async throws -> Int {
        write { state in
            let owned = state.installations.values.filter { $0.clientId == clientID }
            var envelopes = [String: [UInt8]]()
            for installation in owned {
                if let envelope = installation.tokenEnvelope { envelopes[installation.teamId] = envelope }
                state.installations[installation.teamId] = nil
            }
            if !envelopes.isEmpty {
                var posts = state.posts.values.joined().filter { $0.clientId == clientID }
                    .map { (team: $0.teamId, post: UnpostJob(channel: $0.channel, ts: $0.ts)) }
                for (id, stored) in state.jobs.sorted(by: { $0.key < $1.key })
                where stored.job.clientId == clientID && stored.job.kind == .unpost {
                    if case .unpost(let post) = stored.job.work, let team = stored.job.teamId { posts.append((team, post)) }
                    state.jobs[id] = nil
                }
                for (team, post) in posts {
                    guard let envelope = envelopes[team] else { continue }
                    Self.enqueue(
                        NewSlackJob(
                            clientId: nil, teamId: team,
                            work: .unpost(UnpostJob(channel: post.channel, ts: post.ts, envelope: envelope)), runAt: now),
                        into: &state)
                }
            }
            for (team, envelope) in envelopes.sorted(by: { $0.key < $1.key }) {
                Self.enqueue(
                    NewSlackJob(clientId: nil, teamId: team, work: .revoke(RevokeJob(envelope: envelope)), runAt: now),
                    into: &state)
            }
            return owned.count
        }
    }

    public func eraseClientRecords(clientID: String) async throws -> DeletionCounts {
        write { state in
            var counts = DeletionCounts()
            let jobs = state.jobs.filter { $0.value.job.clientId == clientID }.keys
            for id in jobs { state.jobs[id] = nil }
            counts["jobs"] = jobs.count
            let states = state.oauthStates.filter { $0.value.clientID == clientID }.keys
            for nonce in states { state.oauthStates[nonce] = nil }
            counts["oauthStates"] = states.count
            let tombstones = state.tombstones.filter { $0.value == clientID }.keys
            for team in tombstones { state.tombstones[team] = nil }
            counts["slackTombstones"] = tombstones.count
            var forgotten = 0
            for (id, posts) in state.posts where posts.contains(where: { $0.clientId == clientID }) {
                forgotten += posts.count
                state.posts[id] = nil
            }
            counts["slackPosts"] = forgotten
            return counts
        }
    }
}

// MARK: RetentionStore

extension InMemoryStore: RetentionStore {
    public func clientPlans() async throws -> [ClientPlan] {
        withState { state in
            state.clients.values.filter { Self.isLive($0.client.id, in: state) }
                .map { ClientPlan(clientID: $0.client.id, plan: $0.client.plan) }.sorted { $0.clientID < $1.clientID }
        }
    }

    static func matches(_ item: FeedbackItem, _ selection: FeedbackSelection, in state: State) -> Bool {
        switch selection {
        case .createdBefore(let clientID, let cutoff, let plan):
            return item.clientId == clientID && epochMillis(item.createdAt) < cutoff
                && state.clients[clientID]?.client.plan == plan
        case .client(let clientID):
            return item.clientId == clientID
        case .subject(let scope):
            guard item.clientId == scope.clientID else { return false }
            if let member = scope.slackMember { return item.draft.slack?.authorId == member }
            let email = item.draft.userEmail?.asciiLowercased
            return (email != nil && scope.emails.map(\.asciiLowercased).contains(email!))
                || (item.draft.userId != nil && scope.userIDs.contains(item.draft.userId!))
        }
    }

    static func record(_ batch: DeletionBatch, as record: BatchRecord, at now: Int64, in state: inout State)
        -> AuditProgress?
    {
        switch record {
        case .none:
            return nil
        case .closure(let clientID, let counts):
            state.closing[clientID]?.counts.add(counts(batch))
            return nil
        case .audit(var progress, let counts, let dueAt):
            let batchCounts = counts(batch)
            guard !batchCounts.isEmpty else { return progress }
            progress.counts.add(batchCounts)
            let due = dueAt(batch).map(dateFromEpochMillis)
            if let id = progress.entryID, let index = state.audit.firstIndex(where: { $0.id == id }) {
                var entry = state.audit[index].entry
                if let due { entry.dueAt = min(entry.dueAt ?? due, due) }
                entry.finishedAt = dateFromEpochMillis(now)
                entry.counts = progress.counts
                state.audit[index].entry = entry
            } else {
                let id = Int64(state.audit.count + 1)
                state.audit.append(
                    (id, AuditEntry(
                        kind: progress.kind.rawValue, clientId: progress.clientID, dueAt: due,
                        finishedAt: dateFromEpochMillis(now), counts: progress.counts)))
                progress.entryID = id
            }
            return progress
        }
    }

    public func deleteFeedbackBatch(_ selection: FeedbackSelection, limit: Int, at now: Int64, record: BatchRecord)
        async throws -> (batch: DeletionBatch, audit: AuditProgress?)?
    {
        write { state in
            if case .closure(let clientID, _) = record, state.closing[clientID] == nil { return nil }
            let items = state.feedback.values.filter { Self.matches($0, selection, in: state) }.prefix(limit)
            var batch = DeletionBatch()
            for item in items {
                Self.rememberRemoval(of: item, at: now, in: &state)
                Self.queueUnposts(of: item.id, at: now, in: &state)
                state.feedback[item.id] = nil
                batch.screenshots += Self.forgetScreenshots(of: item.id, in: &state)
                batch.rows += 1
                batch.oldestCreatedAt = min(batch.oldestCreatedAt ?? .max, epochMillis(item.createdAt))
            }
            return (batch, Self.record(batch, as: record, at: now, in: &state))
        }
    }

    public func deleteUnattachedUploadBatch(
        clientID: String, uploadedBefore cutoff: Int64?, limit: Int, at now: Int64, record: BatchRecord
    ) async throws -> (batch: DeletionBatch, audit: AuditProgress?)? {
        write { state in
            if case .closure(let id, _) = record, state.closing[id] == nil { return nil }
            let uploads = state.screenshots.values.filter {
                $0.record.clientId == clientID && $0.namedBy.isEmpty
                    && epochMillis($0.record.createdAt) < (cutoff ?? .max)
            }.prefix(limit)
            var batch = DeletionBatch()
            for upload in uploads {
                state.screenshots[upload.record.fileName] = nil
                batch.rows += 1
                batch.oldestCreatedAt = min(batch.oldestCreatedAt ?? .max, epochMillis(upload.record.createdAt))
            }
            return (batch, Self.record(batch, as: record, at: now, in: &state))
        }
    }

    public func beginAccountClosure(clientID: String, at now: Int64) async throws -> Bool {
        write { state in
            guard state.clients[clientID] != nil, state.closing[clientID] == nil else { return false }
            state.closing[clientID] = (now, DeletionCounts())
            return true
        }
    }

    public func pendingAccountClosures() async throws -> [String] {
        withState { $0.closing.sorted { $0.value.requestedAt < $1.value.requestedAt }.map(\.key) }
    }

    public func addClosureProgress(clientID: String, counts: DeletionCounts) async throws -> Bool {
        write { state in
            guard state.closing[clientID] != nil else { return false }
            state.closing[clientID]?.counts.add(counts)
            return true
        }
    }

    public func deleteEndUserBatch(clientID: String, limit: Int) async throws -> Int? {
        write { state in
            guard state.closing[clientID] != nil else { return nil }
            let keys = state.endUserClients.filter { $0.value == clientID }.keys.prefix(limit)
            for key in keys {
                state.endUsers[key] = nil
                state.endUserClients[key] = nil
            }
            state.closing[clientID]?.counts.add(DeletionCounts(["endUsers": keys.count]))
            return keys.count
        }
    }

    public func completeAccountClosure(clientID: String, at now: Int64) async throws -> DeletionCounts? {
        write { state in
            guard let closing = state.closing[clientID] else { return nil }
            state.clients[clientID] = nil
            state.closing[clientID] = nil
            state.feedback = state.feedback.filter { $0.value.clientId != clientID }
            state.screenshots = state.screenshots.filter { $0.value.record.clientId != clientID }
            state.removedCaptures = state.removedCaptures.filter { $0.key.first != clientID }
            state.erasedMembers = state.erasedMembers.filter { $0.key.first != clientID }
            state.audit.append(
                (Int64(state.audit.count + 1), AuditEntry(
                    kind: AuditKind.accountClosure.rawValue, clientId: clientID,
                    dueAt: dateFromEpochMillis(closing.requestedAt), finishedAt: dateFromEpochMillis(now),
                    counts: closing.counts)))
            return closing.counts
        }
    }

    static func endUserKey(_ clientID: String, _ userID: String) -> String { clientID + "\u{1F}" + userID }

    public func upsertEndUser(clientID: String, _ identification: Identification, at now: Int64) async throws {
        try write { state in
            guard Self.isLive(clientID, in: state) else { throw FeedbackError.unknownClient }
            let key = Self.endUserKey(clientID, identification.userId)
            let date = dateFromEpochMillis(now)
            var user = state.endUsers[key] ?? EndUser(
                userId: identification.userId, email: nil, name: nil, traits: nil, createdAt: date, updatedAt: date)
            func apply<T>(_ update: FieldUpdate<T>, _ field: inout T?) {
                switch update {
                case .keep: break
                case .clear: field = nil
                case .set(let value): field = value
                }
            }
            apply(identification.email, &user.email)
            apply(identification.name, &user.name)
            apply(identification.traits, &user.traits)
            user.updatedAt = date
            state.endUsers[key] = user
            state.endUserClients[key] = clientID
        }
    }

    public func endUser(clientID: String, userID: String) async throws -> EndUser? {
        withState { $0.endUsers[Self.endUserKey(clientID, userID)] }
    }

    public func resolve(_ subject: DataSubject, clientID: String) async throws -> SubjectScope {
        withState { state in
            let users = state.endUserClients.filter { $0.value == clientID }.keys.compactMap { state.endUsers[$0] }
            switch subject {
            case .email(let email):
                let ids = users.filter { $0.email?.asciiLowercased == email.asciiLowercased }.map(\.userId)
                return SubjectScope(clientID: clientID, emails: [email], userIDs: ids, endUserEmail: email)
            case .userID(let userID):
                let emails = users.filter { $0.userId == userID }.compactMap(\.email)
                return SubjectScope(clientID: clientID, emails: emails, userIDs: [userID], endUserID: userID)
            case .slackUser(let member):
                return SubjectScope(clientID: clientID, slackMember: member)
            }
        }
    }

    static func endUsers(of scope: SubjectScope, in state: State) -> [String] {
        state.endUserClients.filter { $0.value == scope.clientID }.keys.filter { key in
            guard let user = state.endUsers[key] else { return false }
            if let email = scope.endUserEmail { return user.email?.asciiLowercased == email.asciiLowercased }
            if let id = scope.endUserID { return user.userId == id }
            return false
        }
    }

    static func forwardedOnly(_ item: FeedbackItem, _ scope: SubjectScope) -> Bool {
        guard let member = scope.slackMember, item.clientId == scope.clientID else { return false }
        return item.draft.slack?.forwardedBy == member && item.draft.slack?.authorId != member
    }

    public func exportEndUsers(_ scope: SubjectScope) async throws -> [EndUser] {
        withState { state in
            Self.endUsers(of: scope, in: state).compactMap { state.endUsers[$0] }.sorted { $0.userId < $1.userId }
        }
    }

    public func exportPage(_ scope: SubjectScope, after position: SubjectItemPosition?, limit: Int) async throws -> (
        feedback: [FeedbackItem], screenshots: [StoredScreenshotLink]
    ) {
        withState { state in
            let items = state.feedback.values
                .filter { Self.matches($0, .subject(scope), in: state) || Self.forwardedOnly($0, scope) }
                .filter { item in
                    guard let position else { return true }
                    return (epochMillis(item.createdAt), item.id) < (position.createdAt, position.id)
                }
                .sorted { (epochMillis($0.createdAt), $0.id) > (epochMillis($1.createdAt), $1.id) }
                .prefix(max(0, limit))
            let ids = Set(items.map(\.id))
            let shots = state.screenshots.values.flatMap { shot in
                shot.namedBy.intersection(ids).map {
                    StoredScreenshotLink(
                        feedbackId: $0, fileName: shot.record.fileName, mimeType: shot.record.mimeType,
                        fileSize: shot.record.fileSize, createdAt: epochMillis(shot.record.createdAt))
                }
            }.sorted { ($0.createdAt, $0.fileName, $0.feedbackId) < ($1.createdAt, $1.fileName, $1.feedbackId) }
            return (Array(items), shots)
        }
    }

    public func finishErasure(_ scope: SubjectScope, audit: AuditProgress, dueAt: Int64, at now: Int64) async throws
        -> DeletionCounts
    {
        write { state in
            var last = DeletionCounts()
            // The end users the request resolved to when it began, by id (as the SQL stores).
            let users = state.endUserClients.filter { $0.value == scope.clientID }.keys.filter { key in
                guard let user = state.endUsers[key], scope.endUserEmail != nil || scope.endUserID != nil else { return false }
                return scope.userIDs.contains(user.userId)
            }
            for key in users {
                state.endUsers[key] = nil
                state.endUserClients[key] = nil
            }
            if scope.endUserEmail != nil || scope.endUserID != nil { last["endUsers"] = users.count }
            if scope.slackMember != nil {
                let forwarded = state.feedback.values.filter { Self.forwardedOnly($0, scope) }.map(\.id)
                for id in forwarded { state.feedback[id]?.draft.slack?.forwardedBy = nil }
                last["slackForwardsScrubbed"] = forwarded.count
            }
            let counted = last
            let progress =
                Self.record(
                    DeletionBatch(), as: .audit(audit, counts: { _ in counted }, dueAt: { _ in dueAt }), at: now,
                    in: &state) ?? audit
            if progress.entryID == nil {
                state.audit.append(
                    (Int64(state.audit.count + 1), AuditEntry(
                        kind: AuditKind.privacyErasure.rawValue, clientId: scope.clientID,
                        dueAt: dateFromEpochMillis(dueAt), finishedAt: dateFromEpochMillis(now), counts: progress.counts)))
            }
            return progress.counts
        }
    }

    public func recordAudit(kind: String, clientID: String?, dueAt: Int64?, finishedAt: Int64, counts: DeletionCounts)
        async throws
    {
        write { state in
            state.audit.append(
                (Int64(state.audit.count + 1), AuditEntry(
                    kind: kind, clientId: clientID, dueAt: dueAt.map(dateFromEpochMillis),
                    finishedAt: dateFromEpochMillis(finishedAt), counts: counts)))
        }
    }

    public func auditPage(clientID: String, limit: Int, after cursor: AuditCursor?) async throws -> AuditPage {
        withState { state in
            let fetched = state.audit.map { (entry: $0.entry, id: $0.id, at: epochMillis($0.entry.finishedAt)) }
                .filter { $0.entry.clientId == clientID }
                .filter { row in cursor.map { (row.at, row.id) < ($0.finishedAtMillis, $0.id) } ?? true }
                .sorted { ($0.at, $0.id) > ($1.at, $1.id) }
                .prefix(AuditPage.fetchCount(limit: limit)).map { (entry: $0.entry, id: $0.id) }
            return AuditPage(fetched: Array(fetched), limit: limit)
        }
    }
}

extension InMemoryStore {
    public func claimScheduledRun(task: String, now: Int64, period: Int64) async throws -> Bool {
        write { state in
            if let last = state.scheduledRuns[task], last > now &- max(0, period) { return false }
            state.scheduledRuns[task] = now
            return true
        }
    }
}

extension InMemoryStore: DeletionAuditor {
    public func recordDeletion(kind: String, clientID: String?, dueAt: Date?, finishedAt: Date, counts: DeletionCounts)
        async throws
    {
        try await recordAudit(
            kind: kind, clientID: clientID, dueAt: dueAt.map(epochMillis), finishedAt: epochMillis(finishedAt),
            counts: counts)
    }
}

extension InMemoryStore: InboxSessionStore {
    public func startInboxSession(_ session: StoredInboxSession, perClient: Int) async throws {
        write { state in
            let mine = state.inboxSessions.values.filter { $0.clientID == session.clientID }
                .sorted { $0.lastSeenAt > $1.lastSeenAt }
            for stale in mine.dropFirst(max(perClient - 1, 0)) { state.inboxSessions[stale.key] = nil }
            state.inboxSessions[session.key] = session
        }
    }

    public func inboxSession(key: String, now: Int64, idleSince: Int64, createdSince: Int64, refreshBefore: Int64)
        async throws -> StoredInboxSession?
    {
        write { state in
            guard var session = state.inboxSessions[key] else { return nil }
            guard session.lastSeenAt >= idleSince, session.createdAt >= createdSince else {
                state.inboxSessions[key] = nil
                return nil
            }
            if session.lastSeenAt < refreshBefore {
                session.lastSeenAt = now
                state.inboxSessions[key] = session
            }
            return session
        }
    }

    public func endInboxSession(key: String) async throws {
        write { $0.inboxSessions[key] = nil }
    }

    public func endInboxSessions(clientID: String) async throws {
        write { state in state.inboxSessions = state.inboxSessions.filter { $0.value.clientID != clientID } }
    }
}
