import Feedback
import Foundation

/// A workspace's settings, stored with its installation: an uninstall (which deletes the installation) clears them,
/// and a reinstall starts from the defaults.
public struct SlackSettings: Sendable, Equatable {
    /// The trigger emoji of a workspace that never chose its own.
    public static let defaultTriggerEmoji = ["wrench", "pushpin"]
    /// Most trigger emoji a workspace may have.
    public static let maxTriggerEmoji = 10

    /// Reactions with any of these emoji capture the message, as `reaction:NAME`.
    public var triggerEmoji: [String]
    /// The channel each new `api`/`widget` item is posted to; nil: none.
    public var notifyChannel: String?

    /// Creates settings (the defaults unless told otherwise).
    public init(triggerEmoji: [String] = defaultTriggerEmoji, notifyChannel: String? = nil) {
        self.triggerEmoji = triggerEmoji
        self.notifyChannel = notifyChannel
    }

    /// The trigger emoji as the stores keep them (`slack_installation.trigger_emoji`): comma-separated names, nil
    /// for the defaults.
    public var storedTriggerEmoji: String? {
        triggerEmoji == Self.defaultTriggerEmoji ? nil : triggerEmoji.joined(separator: ",")
    }

    /// Reads `storedTriggerEmoji` back; nil when it holds a list that is not valid.
    public static func triggerEmoji(stored text: String) -> [String]? {
        let names = text.split(separator: ",").map(String.init)
        return problem(triggerEmoji: names) == nil ? names : nil
    }

    /// Whether a reaction with `emoji` captures in this workspace. Exact names only: `round_pushpin` is not
    /// `pushpin`.
    public func triggers(_ emoji: String) -> Bool { triggerEmoji.contains(emoji) }

    /// The emoji a reaction names, as Slack reports it: a skin-tone variant arrives as `name::skin-tone-N` (N 2-6)
    /// and is that emoji (`+1::skin-tone-2` is a `+1`: a workspace that chose `+1` means every tone of it).
    public static func emoji(reported name: String) -> String {
        guard let range = name.range(of: "::skin-tone-"), name[range.upperBound...].count == 1,
            let tone = name.last, ("2"..."6").contains(tone)
        else { return name }
        return String(name[..<range.lowerBound])
    }

    /// `names` as a reader is told them: `:wrench:`, `:wrench: or :pushpin:`, `:a:, :b: or :c:`.
    public static func spoken(_ names: [String]) -> String {
        let emoji = names.map { ":\($0):" }
        guard let last = emoji.last, emoji.count > 1 else { return emoji.first ?? "" }
        return emoji.dropLast().joined(separator: ", ") + " or " + last
    }

    /// The capture method of the first of `names` (a message's reactions, in Slack's order) that triggers.
    public func firstTrigger(in names: [String]) -> String? { names.first(where: triggers) }

    // MARK: Validation (one rule for the API and the inbox)

    /// Problems with a trigger emoji list, or nil when it is valid: 1 to 10 emoji names, each 1-100 of
    /// `a-z 0-9 _ + ' -`, no colons. Duplicates are dropped by `normalized`, not refused.
    public static func problem(triggerEmoji names: [String]) -> String? {
        let unique = normalized(names)
        guard !unique.isEmpty else { return "Give 1 to \(maxTriggerEmoji) emoji names" }
        guard unique.count <= maxTriggerEmoji else { return "At most \(maxTriggerEmoji) emoji names" }
        if let bad = unique.first(where: { !SlackCaptureMethod.isEmojiName($0) }) {
            let shown = String(bad.prefix(40))
            if let base = bad.components(separatedBy: "::skin-tone-").first, base != bad,
                SlackCaptureMethod.isEmojiName(base)
            {
                return "Skin tones are matched with their emoji: give \"\(base.prefix(40))\", not \(shown)"
            }
            return bad.contains(":")
                ? "Emoji names are written without colons (\"bug\", not \":bug:\"): \(shown)"
                : "Not an emoji name (lowercase letters, digits, _ + ' - only): \(shown)"
        }
        return nil
    }

    /// The names without duplicates, in the order given.
    public static func normalized(_ names: [String]) -> [String] {
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }

    /// Whether `text` looks like a Slack channel id (`C…` public, `G…` private, `D…` direct message): an upper-case
    /// letter and 2-31 upper-case letters or digits. Names (`#general`) are not ids; Slack's API wants the id.
    public static func isChannelID(_ text: String) -> Bool {
        isSlackID(text, startingWith: "CGD", length: 3...32)
    }

    /// Whether `text` is `length` bytes: one of `initials`, then upper-case letters or digits (Slack's ids).
    static func isSlackID(_ text: String, startingWith initials: String, length: ClosedRange<Int>) -> Bool {
        let bytes = Array(text.utf8)
        guard length.contains(bytes.count), initials.utf8.contains(bytes[0]) else { return false }
        return bytes.dropFirst().allSatisfy {
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
        }
    }

    /// The problem with a channel id, or nil when it is valid. `none` says how to ask for no channel where the
    /// answer is read: `null` in the API's JSON, an empty field in the inbox's form.
    public static func problem(notifyChannel channel: String, none: String) -> String? {
        isChannelID(channel)
            ? nil
            : "Must be a channel id such as C0123456789 (in Slack: channel details → the id at the bottom), or \(none)"
    }
}

/// A change to some of a workspace's settings: absent fields stay as they are.
public struct SlackSettingsChange: Sendable, Equatable {
    /// New trigger emoji, when given.
    public var triggerEmoji: [String]?
    /// `.some(nil)` stops posting; `.some(id)` posts to `id`; nil leaves it.
    public var notifyChannel: String??

    /// Creates a change.
    public init(triggerEmoji: [String]? = nil, notifyChannel: String?? = nil) {
        self.triggerEmoji = triggerEmoji
        self.notifyChannel = notifyChannel
    }

    /// Reads the body of `PUT /api/slack/settings`: a JSON object with `triggerEmoji` and/or `notifyChannel`.
    /// Throws `FeedbackError.malformedJSON`, or `.invalid(issues:)` naming each bad or unknown field.
    public static func parse(_ body: some Collection<UInt8>) throws -> SlackSettingsChange {
        guard let value = JSONValue.parseRequestBody(body) else { throw FeedbackError.malformedJSON }
        guard case .object(let fields) = value else {
            throw FeedbackError.invalid(issues: ["body": ["Expected a JSON object"]])
        }
        var issues: [String: [String]] = [:]
        for key in fields.keys.sorted() where key != "triggerEmoji" && key != "notifyChannel" {
            issues[String(key.prefix(64)), default: []].append(ErrorBody.unknownField)
        }
        if fields.isEmpty {
            issues["body", default: []].append("Give triggerEmoji, notifyChannel or both")
        }
        var change = SlackSettingsChange()
        switch fields["triggerEmoji"] {
        case nil: break
        case .array(let values)?:
            let names = values.compactMap { value -> String? in
                if case .string(let name) = value { return name }
                return nil
            }
            if names.count != values.count {
                issues["triggerEmoji", default: []].append("Must be an array of emoji names (strings)")
            } else if let problem = SlackSettings.problem(triggerEmoji: names) {
                issues["triggerEmoji", default: []].append(problem)
            } else {
                change.triggerEmoji = SlackSettings.normalized(names)
            }
        default:
            issues["triggerEmoji", default: []].append("Must be an array of 1 to \(SlackSettings.maxTriggerEmoji) emoji names")
        }
        switch fields["notifyChannel"] {
        case nil: break
        case .null?: change.notifyChannel = .some(nil)
        case .string(let channel)?:
            if let problem = SlackSettings.problem(notifyChannel: channel, none: "null") {
                issues["notifyChannel", default: []].append(problem)
            } else {
                change.notifyChannel = .some(channel)
            }
        default: issues["notifyChannel", default: []].append("Must be a channel id (string) or null")
        }
        guard issues.isEmpty else { throw FeedbackError.invalid(issues: issues) }
        return change
    }
}

/// The last time posting to the notify channel failed for a reason the admin must fix.
public struct NotifyProblem: Sendable, Equatable {
    /// The channel the post was for.
    public var channel: String
    /// Slack's error code (`not_in_channel`, `channel_not_found`, `is_archived`, …), never a message.
    public var code: String
    /// When, epoch milliseconds.
    public var at: Int64

    /// Creates a problem record.
    public init(channel: String, code: String, at: Int64) {
        self.channel = channel
        self.code = code
        self.at = at
    }

    /// Codes that connecting Slack again mends (the access itself, not the channel): a new installation by the same
    /// client forgets a problem of these. `token_revoked` is also what a `tokens_revoked` event records while a
    /// channel is set, since no post is even tried without a token.
    public static let mendedByReconnecting: Set<String> = [
        "token_revoked", "invalid_auth", "account_inactive", "not_authed", "token_expired", "missing_scope",
        "not_allowed_token_type",
    ]

    /// What the inbox tells the admin.
    public var explanation: String {
        switch code {
        case "not_in_channel":
            "usero is not a member of channel \(channel), so new feedback could not be posted there. Invite @usero to the channel (/invite @usero)."
        case "channel_not_found":
            "Slack does not know channel \(channel), or usero cannot see it (a private channel usero was not invited to). Check the channel id."
        case "is_archived": "Channel \(channel) is archived, so new feedback could not be posted there. Choose another channel."
        case "token_revoked", "invalid_auth", "account_inactive", "not_authed", "token_expired":
            "Slack no longer accepts usero's access to this workspace (\(code)), so new feedback could not be posted to channel \(channel). Reconnect Slack."
        case "missing_scope", "not_allowed_token_type":
            "usero lacks a Slack permission it needs to post in channel \(channel) (\(code)). Reconnect Slack to grant it."
        case "unreachable":
            "Slack could not be reached to post new feedback to channel \(channel), after retrying for several minutes; what could not be posted then is not sent again."
        default: "Posting new feedback to channel \(channel) failed (\(code))."
        }
    }
}

/// `GET`/`PUT /api/slack/settings`: `{"triggerEmoji":[…],"notifyChannel":…}` (null when unset), and
/// `notifyProblem` only while the last post to the notify channel failed for a reason the admin must fix (the bot not
/// in the channel, an archived channel, a revoked token): `{"code","message","at"}`, what the inbox shows. It goes
/// once a post succeeds or the channel changes.
struct SettingsBody: Encodable {
    struct Problem: Encodable {
        var code: String
        var message: String
        var at: String
    }

    var triggerEmoji: [String]
    var notifyChannel: String?
    var notifyProblem: Problem?

    init(_ installation: Installation) {
        triggerEmoji = installation.settings.triggerEmoji
        notifyChannel = installation.settings.notifyChannel
        notifyProblem = installation.notifyProblem.map {
            Problem(code: $0.code, message: $0.explanation, at: iso8601Millis($0.at))
        }
    }

    enum CodingKeys: String, CodingKey { case triggerEmoji, notifyChannel, notifyProblem }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(triggerEmoji, forKey: .triggerEmoji)
        try c.encode(notifyChannel, forKey: .notifyChannel)
        try c.encodeIfPresent(notifyProblem, forKey: .notifyProblem)
    }
}
