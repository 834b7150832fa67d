import Feedback
import UseroCrypto

/// Slack members erased lately (`POST /api/privacy/erase` with a `slackUserId`), so that work queued before an
/// erasure does not store what they wrote after the erasure deleted the rest: a reaction by someone else to one of
/// their messages, not fetched yet when the erasure ran (its author is known only once it is fetched), or a recovery
/// sweep reading the channels' history. For as long as such work can exist (a sweep reads at most 7 days back; a
/// capture job is retried for far less) a store remembers each erasure and leaves out
/// - the capture of a reaction queued at or before the erasure, of a message the member wrote;
/// - a recovered message the member wrote before the erasure (when its missed reaction happened is not known);
/// - the member as the forwarder of a recovered message posted before the erasure: the next member who reacted
///   forwards it instead, and without one the message is left out.
/// A forward made after the erasure (a new reaction, the shortcut, `/usero`) is a new act and is stored as any other.
/// The member is kept as a digest of the client's and the member's ids, never the id itself.
public enum ErasedMembers {
    /// How long an erasure is remembered: as long as a removed capture (`RemovedCaptures`), for the same sweeps.
    public static let rememberedFor = RemovedCaptures.rememberedFor

    /// Erasures recorded before this instant can be forgotten.
    public static func horizon(at now: Int64) -> Int64 { RemovedCaptures.horizon(at: now) }

    /// The stored key of a client's member: hex SHA-256 of both ids.
    public static func key(clientID: String, member: String) -> String {
        Hex.encode(SHA256.hash(Array("\(clientID)\n\(member)".utf8)))
    }

    /// The key of the message's author, when it names one.
    public static func authorKey(of message: CapturedMessage, clientID: String) -> String? {
        message.authorId.map { key(clientID: clientID, member: $0) }
    }

    /// The instant an erasure of the author must be at or after for a recovery sweep to leave the message out: when
    /// it was posted.
    public static func recoveredSince(_ message: CapturedMessage) -> Int64? {
        message.messageTs.flatMap(SlackRecoveryRules.millis(ofTs:))
    }

    /// What a recovery step stores of `message`, given the client's remembered erasures (`key` to when): nil when
    /// its author was erased at or after it was posted, or when every member who forwarded it was; otherwise the
    /// message, forwarded by the first of its forwarders (`forwardedBy`, then `otherForwarders`) who was not, with
    /// the emoji that member reacted with.
    public static func recoverable(_ message: CapturedMessage, clientID: String, erasedAt: [String: Int64])
        -> CapturedMessage?
    {
        guard !erasedAt.isEmpty, let posted = recoveredSince(message) else { return message }
        func erasedSincePosted(_ member: String) -> Bool {
            (erasedAt[key(clientID: clientID, member: member)] ?? .min) >= posted
        }
        if let author = message.authorId, erasedSincePosted(author) { return nil }
        let forwarders: [(member: String, via: SlackCaptureMethod)] =
            (message.forwardedBy.map { [($0, message.via)] } ?? [])
            + message.otherForwarders.map { ($0.member, .reaction($0.emoji)) }
        guard !forwarders.isEmpty else { return message }
        guard let forwarder = forwarders.first(where: { !erasedSincePosted($0.member) }) else { return nil }
        var kept = message
        kept.forwardedBy = forwarder.member
        kept.via = forwarder.via
        kept.otherForwarders = []
        return kept
    }
}
