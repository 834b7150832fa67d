import Feedback
import Foundation
import Logging
@testable import SlackGateway
import Testing
import UseroCrypto
import UseroTestSupport

/// The fixtures' world over the in-memory store: workspace T0001 (bot user U0009, bot id B0001) installed for one
/// client with a sealed bot token, a clock set just after the fixtures' events, a wakeup, and a fake Slack.
struct SlackWorld {
    static let team = "T0001"
    static let botUser = "U0009"
    static let botId = "B0001"
    /// Just after every fixture's `event_time` (the uninstall is at 1700001000).
    static let now = Date(timeIntervalSince1970: 1_700_001_005)

    let store = InMemoryStore()
    let clock = TestClock(SlackWorld.now)
    let wakeup = JobWakeup()
    let keyRing: KeyRing
    let api: any SlackWebAPI
    let clientID: String
    let logger: Logger

    /// A world with T0001 installed; `api` answers the runner's calls; tokens sealed under `key` (a random one).
    init(api: any SlackWebAPI = FakeSlackWebAPI(), key: TokenKey? = nil, logger: Logger? = nil) async throws {
        self.api = api
        self.logger = logger ?? Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        keyRing = KeyRing(current: try key ?? TokenKey(try SecretBytes.random(count: 32)))
        clientID = try await store.createClient(name: "Acme", plan: .free, allowedOrigins: [], at: Self.now).0.id
        try await install(team: Self.team, clientID: clientID)
    }

    var nowMillis: Int64 { epochMillis(clock.now()) }

    /// Installs `team` for `clientID` with a bot token sealed the way the OAuth callback seals it.
    func install(team: String, clientID: String, botUser: String = SlackWorld.botUser, botId: String = SlackWorld.botId)
        async throws
    {
        let envelope = try keyRing.seal(Array("xoxb-\(team)-token".utf8), associatedData: Array(team.utf8))
        let installation = Installation(
            teamId: team, clientId: clientID, enterpriseId: nil, teamName: "Acme Product", botUserId: botUser,
            botId: botId, appId: "A0001", scopes: "reactions:read,channels:history,chat:write",
            installerUserId: "U0001", tokenEnvelope: envelope, tokenKeyId: keyRing.currentKeyID,
            installedAt: nowMillis)
        #expect(try await store.saveInstallation(installation) == .saved)
    }

    var ingest: SlackIngest { SlackIngest(store: store, clock: clock, wakeup: wakeup, logger: logger) }

    func runner(auditor: (any DeletionAuditor)? = nil) -> SlackJobRunner {
        SlackJobRunner(
            store: store, auditor: auditor ?? store, api: api, keyRing: keyRing, clock: clock, logger: logger,
            wakeup: wakeup)
    }

    func worker(auditor: (any DeletionAuditor)? = nil) -> SlackJobWorker {
        SlackJobWorker(
            runner: runner(auditor: auditor), store: store, clock: clock, pollInterval: .seconds(3600),
            wakeup: wakeup, logger: logger)
    }

    // MARK: Looking at the store

    var jobs: [SlackJob] { store.jobs }
    var items: [FeedbackItem] { store.withState { $0.feedback.values.sorted { $0.id < $1.id } } }
    var seenEvents: Set<String> { store.withState { Set($0.seenEvents.keys) } }

    /// Claims what is due now (Slack kinds and local kinds alike), as a worker would.
    func claim(limit: Int = 64) async throws -> [SlackJob] {
        try await store.claimDueJobs(
            now: nowMillis, limit: limit, lease: SlackJobWorker.lease, kinds: Set(SlackJob.Kind.allCases))
    }

    /// Stores a captured message of `team` as if an earlier forward had.
    @discardableResult
    func storeCaptured(
        team: String = SlackWorld.team, clientID: String? = nil, ts: String, author: String? = "U0002",
        forwarder: String? = "U0001"
    ) async throws -> FeedbackItem {
        let draft = CapturedMessage(
            teamId: team, channelId: "C0001", messageTs: ts, threadTs: nil, authorId: author, forwardedBy: forwarder,
            via: .reactionWrench, permalink: nil, text: "Captured \(ts)"
        ).draft(clientId: clientID ?? self.clientID)
        return try await store.insert(draft, at: clock.now(), origin: nil)
    }

    /// A job value to enqueue for T0001 (or `team`).
    func newJob(_ work: SlackJob.Work, team: String = SlackWorld.team, clientID: String? = nil) -> NewSlackJob {
        NewSlackJob(clientId: clientID ?? self.clientID, teamId: team, work: work, runAt: nowMillis)
    }
}

/// The fixtures copied from /work/shared/fixtures/slack (exact bytes).
enum Fixtures {
    static func data(_ name: String) throws -> Data {
        let folder = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return try Data(contentsOf: folder.appendingPathComponent(name))
    }

    static func bytes(_ name: String) throws -> [UInt8] { Array(try data(name)) }

    /// A JSON fixture with top-level fields (and fields of `event`) replaced.
    static func event(_ name: String, top: [String: any Sendable] = [:], event: [String: any Sendable] = [:]) throws
        -> [UInt8]
    {
        var json = try #require(try JSONSerialization.jsonObject(with: try data(name)) as? [String: Any])
        for (key, value) in top { json[key] = value }
        if !event.isEmpty {
            var inner = try #require(json["event"] as? [String: Any])
            for (key, value) in event { inner[key] = value }
            json["event"] = inner
        }
        return Array(try JSONSerialization.data(withJSONObject: json))
    }

    /// The `messages` of a Web API answer, as a page.
    static func page(_ name: String) throws -> MessagePage {
        struct Answer: Decodable { var messages: [Message] }
        return MessagePage(messages: try JSONDecoder().decode(Answer.self, from: try data(name)).messages, nextCursor: nil)
    }
}
