import Feedback
import Foundation
import GRDB
import Retention
import SlackGateway
import StorePostgres
@testable import StoreSQLite
import Testing
import UseroTestSupport

// The backends every conformance test runs against. To add one, write a `StoreFactory` that
// returns a fresh, empty store per call and add it to `StoreFactories.all`; nothing else in this target changes.

/// Every store protocol of one backend, on a fresh, empty store.
struct StoreUnderTest: Sendable {
    let feedback: any FeedbackStore
    let slack: any SlackStore
    let retention: any RetentionStore
    /// The audit trail as other modules write to it (the executable wires `AuditLog` over the retention store).
    let auditor: any DeletionAuditor
    /// Raw access to the job queue, for backends that can hold a job whose payload does not decode (an in-memory
    /// queue of typed jobs cannot): nil where that cannot happen.
    let undecodableJobs: UndecodableJobs?
    /// The database, on PostgreSQL: for tests that open sessions of their own beside the store's.
    var postgres: PostgresSettings? = nil
}

/// Writes and inspects job rows below the typed API.
struct UndecodableJobs: Sendable {
    /// Adds a job of `kind` whose payload does not fit it; returns its id.
    let insert: @Sendable (_ team: String, _ runAt: Int64, _ kind: SlackJob.Kind) async throws -> Int64
    /// The error recorded on a job, if any.
    let lastError: @Sendable (_ id: Int64) async throws -> String?
    /// The job's `run_at`.
    let runAt: @Sendable (_ id: Int64) async throws -> Int64?
}

/// Makes a fresh store of one backend.
struct StoreFactory: Sendable, CustomTestStringConvertible {
    let name: String
    /// Why this backend cannot run on this machine (no server binary, no database), or nil when it can.
    let unavailable: @Sendable () -> String?
    /// Whether the backend stores job payloads as data, so that one can fail to decode (SQLite's text column can;
    /// the in-memory queue holds typed jobs and cannot).
    let storesRawJobPayloads: Bool
    let make: @Sendable () async throws -> StoreUnderTest

    var testDescription: String { name }

    /// A fresh, empty store.
    func store() async throws -> StoreUnderTest { try await make() }
}

enum StoreFactories {
    /// Every backend, in the order results are reported.
    static let all: [StoreFactory] = [
        .sqlite,
        .inMemory,
        .postgreSQL,
    ]

    /// The backends that can run on this machine: every conformance test runs once per backend in this list.
    /// A backend left out is reported by `StoreBackendAvailabilityTests` as a skipped test with the reason.
    static let available = all.filter { $0.unavailable() == nil }

    /// Why backends are left out, one `name: reason` each; empty when every backend runs.
    static let missing = all.compactMap { factory in factory.unavailable().map { "\(factory.name): \($0)" } }
        .joined(separator: "; ")
}

/// A backend that cannot run here must show in the results: Swift Testing cannot skip one argument of a
/// parameterised test, so the missing ones are named here, as this test's skip reason.
@Suite struct StoreBackendAvailabilityTests {
    @Test(.enabled(if: StoreFactories.missing.isEmpty, Comment(rawValue: "Not under test here: \(StoreFactories.missing)")))
    func everyListedBackendRunsHere() async throws {
        #expect(StoreFactories.available.map(\.name) == StoreFactories.all.map(\.name))
        for factory in StoreFactories.available { _ = try await factory.store() }
    }
}

extension StoreFactory {
    /// The embedded backend on a fresh file in its own temporary folder.
    static let sqlite = StoreFactory(name: "SQLite", unavailable: { nil }, storesRawJobPayloads: true) {
        let folder = TestFolders.make("usero-conformance")
        // Posting new feedback to Slack on, as `serve` has it with Slack configured: the insert's follow-up is part
        // of the contract (it enqueues nothing until an installation has a notify channel).
        let store = try await SQLiteStore(
            path: folder.appendingPathComponent("usero.sqlite").path,
            dataDirectory: folder.appendingPathComponent("data").path, postsNewFeedbackToSlack: true)
        let jobs = UndecodableJobs(
            insert: { team, runAt, kind in
                try await store.database.write { db in
                    try db.execute(
                        sql: """
                            INSERT INTO job (kind, client_id, team_id, payload, run_at, attempts, created_at)
                            VALUES (?, NULL, ?, '{"channel":7}', ?, 0, ?)
                            """,
                        arguments: [kind.rawValue, team, runAt, runAt])
                    return db.lastInsertedRowID
                }
            },
            lastError: { id in
                try await store.database.read { db in
                    try String.fetchOne(db, sql: "SELECT last_error FROM job WHERE id = ?", arguments: [id])
                }
            },
            runAt: { id in
                try await store.database.read { db in
                    try Int64.fetchOne(db, sql: "SELECT run_at FROM job WHERE id = ?", arguments: [id])
                }
            })
        return StoreUnderTest(
            feedback: store, slack: store, retention: store, auditor: AuditLog(store: store), undecodableJobs: jobs)
    }

    /// The fake the unit tests use: it must keep the same contracts, or unit tests test the fake.
    static let inMemory = StoreFactory(name: "in-memory", unavailable: { nil }, storesRawJobPayloads: false) {
        let store = InMemoryStore(postsNewFeedbackToSlack: true)
        return StoreUnderTest(feedback: store, slack: store, retention: store, auditor: store, undecodableJobs: nil)
    }
}

// MARK: Arranging

extension StoreUnderTest {
    static let t0 = Date(timeIntervalSince1970: 1_700_000_000)
    static let t0Millis: Int64 = 1_700_000_000_000

    func client(_ plan: Plan = .free, origins: [String] = []) async throws -> String {
        try await feedback.createClient(name: "Acme", plan: plan, allowedOrigins: origins, at: Self.t0).0.id
    }

    /// Stores an item `seconds` after t0.
    @discardableResult
    func item(
        _ clientID: String, at seconds: TimeInterval = 0, source: FeedbackSource = .api, environment: String? = nil,
        email: String? = nil, userId: String? = nil, slack: SlackCapture? = nil, screenshots: [ScreenshotRef] = [],
        comment: String = "Feedback"
    ) async throws -> FeedbackItem {
        let draft = FeedbackDraft(
            clientId: clientID, source: source, rating: 2, comment: comment, userEmail: email,
            environment: environment, screenshots: screenshots, userId: userId, slack: slack)
        return try await feedback.insert(draft, at: Self.t0.addingTimeInterval(seconds), origin: nil)
    }

    /// Stores an upload `seconds` after t0 (unattached until an item names it).
    func upload(_ clientID: String, at seconds: TimeInterval = 0, bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47])
        async throws -> ScreenshotRef
    {
        let created = Self.t0.addingTimeInterval(seconds)
        let fileName = "\(clientID)/\(epochMillis(created))-\(Identifiers.random(8)).png"
        try await feedback.saveScreenshot(
            StoredScreenshot(
                fileName: fileName, clientId: clientID, mimeType: "image/png", fileSize: Int64(bytes.count),
                width: 1, height: 1, createdAt: created),
            bytes: bytes)
        return ScreenshotRef(
            fileName: fileName, url: "https://usero.test/api/screenshots/\(fileName)", fileSize: Int64(bytes.count),
            mimeType: "image/png", width: 1, height: 1)
    }

    func installation(
        team: String, client: String, envelope: [UInt8]? = [1, 2, 3], at millis: Int64 = t0Millis
    ) -> Installation {
        Installation(
            teamId: team, clientId: client, enterpriseId: nil, teamName: "Team \(team)", botUserId: "U\(team)BOT",
            botId: "B\(team)", appId: "A0001", scopes: "chat:write", installerUserId: "U0001",
            tokenEnvelope: envelope, tokenKeyId: envelope == nil ? nil : "k1", installedAt: millis)
    }

    /// Installs `team` for `client`.
    func install(team: String, client: String, envelope: [UInt8]? = [1, 2, 3], at millis: Int64 = t0Millis)
        async throws
    {
        #expect(
            try await slack.saveInstallation(installation(team: team, client: client, envelope: envelope, at: millis))
                == .saved)
    }

    func message(team: String, ts: String?, author: String? = "U0002", forwarder: String? = "U0001")
        -> CapturedMessage
    {
        CapturedMessage(
            teamId: team, channelId: "C0001", messageTs: ts, threadTs: nil, authorId: author, forwardedBy: forwarder,
            via: .shortcut, permalink: nil, text: "Message \(ts ?? "-")")
    }

    func job(_ work: SlackJob.Work, team: String?, client: String? = nil, at millis: Int64 = t0Millis) -> NewSlackJob {
        NewSlackJob(clientId: client, teamId: team, work: work, runAt: millis)
    }

    static func notice(_ user: String) -> SlackJob.Work {
        .notify(NotifyJob(channel: "C0001", user: user, outcome: "captured"))
    }

    /// Claims everything claimable at `now` (all kinds, one-second leases).
    func claimAll(at now: Int64 = t0Millis, kinds: Set<SlackJob.Kind> = Set(SlackJob.Kind.allCases), limit: Int = 100)
        async throws -> [SlackJob]
    {
        try await slack.claimDueJobs(now: now, limit: limit, lease: 1_000, kinds: kinds)
    }

    /// Every item of the client, newest first.
    func items(_ clientID: String) async throws -> [FeedbackItem] {
        try await feedback.listFeedback(clientID: clientID, filter: .init(), limit: 1_000, after: nil).items
    }

    func identify(_ clientID: String, _ json: String, at millis: Int64 = t0Millis) async throws {
        try await retention.upsertEndUser(clientID: clientID, try IdentifyParser().parse(Array(json.utf8)), at: millis)
    }
}

extension Installation {
    /// The fields an installation is compared by (it is not `Equatable`: it holds a sealed token).
    var fields: [String?] {
        [
            teamId, clientId, enterpriseId, teamName, botUserId, botId, appId, scopes, installerUserId,
            tokenEnvelope.map { Data($0).base64EncodedString() }, tokenKeyId, String(installedAt),
        ]
    }
}

extension Collection {
    /// The single element, or nil when there are none or several.
    var only: Element? { count == 1 ? first : nil }
}
