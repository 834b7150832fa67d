public import Feedback
import Foundation

/// Identified end users: `POST /api/identify` and the admin lookup.
public struct EndUserService: Sendable {
    /// Resolves clients (unknown and closing clients are invisible).
    public let store: any FeedbackStore
    /// End users.
    public let endUsers: any RetentionStore
    /// The time source.
    public let clock: any WallClock
    private let parser = IdentifyParser()

    /// Creates the service.
    public init(store: any FeedbackStore, endUsers: any RetentionStore, clock: any WallClock) {
        self.store = store
        self.endUsers = endUsers
        self.clock = clock
    }

    /// Validates an identify call with the same client and allowlist rules as feedback, then creates or updates the
    /// end user in one write.
    public func identify(body: some Collection<UInt8>, origin: String?) async throws {
        let identification = try parser.parse(body)
        let client = try await store.requireClient(identification.clientId, origin: origin)
        try await endUsers.upsertEndUser(clientID: client.id, identification, at: epochMillis(clock.now()))
    }

    /// The end user `userID` of this client.
    public func endUser(clientID: String, userID: String) async throws -> EndUser? {
        try await endUsers.endUser(clientID: clientID, userID: userID)
    }
}
