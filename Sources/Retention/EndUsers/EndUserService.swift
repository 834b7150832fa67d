public import Feedback
import Foundation
import GRDB

/// Identified end users: `POST /api/identify` and the admin lookup.
public struct EndUserService: Sendable {
    /// Resolves clients (unknown and closing clients are invisible).
    public let store: any FeedbackStore
    /// The shared database.
    public let database: AppDatabase
    /// The time source.
    public let clock: any WallClock
    private let parser = IdentifyParser()

    /// Creates the service.
    public init(store: any FeedbackStore, database: AppDatabase, clock: any WallClock) {
        self.store = store
        self.database = database
        self.clock = clock
    }

    /// Validates an identify call with the same client and allowlist rules as feedback, then creates or updates the
    /// end user in one write.
    public func identify(body: some Collection<UInt8>, origin: String?) async throws {
        let identification = try parser.parse(body)
        let client = try await store.requireClient(identification.clientId, origin: origin)
        try await upsert(identification, clientID: client.id)
    }

    /// The end user `userID` of this client.
    public func endUser(clientID: String, userID: String) async throws -> EndUser? {
        try await database.read { db in
            try Row.fetchOne(
                db, sql: "\(EndUser.select) WHERE client_id = ? AND user_id = ?", arguments: [clientID, userID]
            ).map(EndUser.init(row:))
        }
    }

    private func upsert(_ identification: Identification, clientID: String) async throws {
        func value<T>(_ update: FieldUpdate<T>) -> (isSet: Bool, value: T?) {
            switch update {
            case .keep: (false, nil)
            case .clear: (true, nil)
            case .set(let value): (true, value)
            }
        }
        let email = value(identification.email)
        let name = value(identification.name)
        let traits = value(identification.traits)
        let traitsText = traits.value.map { JSONValue.object($0).jsonText }
        let now = epochMillis(clock.now())
        try await database.write { db in
            // A closure that began after the client lookup wins: nothing is added to an account being deleted.
            let closing = try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 FROM account_deletion WHERE client_id = ?)", arguments: [clientID])
            guard closing != true else { throw FeedbackError.unknownClient }
            try db.execute(
                sql: """
                    INSERT INTO end_user (client_id, user_id, email, name, traits, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (client_id, user_id) DO UPDATE SET
                        email = CASE WHEN ? THEN excluded.email ELSE end_user.email END,
                        name = CASE WHEN ? THEN excluded.name ELSE end_user.name END,
                        traits = CASE WHEN ? THEN excluded.traits ELSE end_user.traits END,
                        updated_at = excluded.updated_at
                    """,
                arguments: [
                    clientID, identification.userId, email.value, name.value, traitsText, now, now, email.isSet,
                    name.isSet, traits.isSet,
                ])
        }
    }
}
