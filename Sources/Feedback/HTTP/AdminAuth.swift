import Foundation
public import Hummingbird

/// Resolves `Authorization: Bearer ADMIN_KEY` to the client it belongs to.
public struct AdminAuth: Sendable {
    /// The store holding key hashes.
    public let store: any FeedbackStore

    /// Creates the resolver.
    public init(store: any FeedbackStore) {
        self.store = store
    }

    /// The authenticated client, or `FeedbackError.unauthorized`.
    public func client(for request: Request) async throws -> Client {
        guard let header = request.headers[.authorization] else { throw FeedbackError.unauthorized }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw FeedbackError.unauthorized }
        let key = parts[1].trimmingCharacters(in: .whitespaces)
        guard !key.isEmpty, key.count <= 256, let client = try await store.client(adminKey: key) else {
            throw FeedbackError.unauthorized
        }
        AccessRecord.note(clientID: client.id)
        return client
    }
}
