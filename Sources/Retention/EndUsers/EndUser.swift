public import Feedback
public import Foundation

/// A person the customer identified through `POST /api/identify`. Lives as long as the account.
public struct EndUser: Sendable, Equatable, Encodable {
    /// The customer's own id for the person (1-128 characters).
    public var userId: String
    public var email: String?
    public var name: String?
    /// A flat object of strings, numbers, booleans and nulls.
    public var traits: [String: JSONValue]?
    public var createdAt: Date
    public var updatedAt: Date

    /// Creates an end user value.
    public init(
        userId: String, email: String?, name: String?, traits: [String: JSONValue]?, createdAt: Date, updatedAt: Date
    ) {
        self.userId = userId
        self.email = email
        self.name = name
        self.traits = traits
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum Keys: String, CodingKey { case userId, email, name, traits, createdAt, updatedAt }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(userId, forKey: .userId)
        try c.encode(email, forKey: .email)
        try c.encode(name, forKey: .name)
        try c.encode(traits, forKey: .traits)
        try c.encode(iso8601(createdAt), forKey: .createdAt)
        try c.encode(iso8601(updatedAt), forKey: .updatedAt)
    }
}
