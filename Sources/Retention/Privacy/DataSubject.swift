import Feedback
import GRDB

/// The person a data-subject request is about, named by exactly one key.
public enum DataSubject: Sendable, Equatable {
    /// Everything sent with this email (any case), and by end users identified with it.
    case email(String)
    /// Everything linked to this identified end user, and sent with the email it was identified with.
    case userID(String)
    /// Slack messages this member wrote or forwarded (while their id has not been scrubbed).
    case slackUser(String)

    /// The keys a request may use.
    public static let keys = ["email", "userId", "slackUserId"]

    /// The subject named by `values` (absent and empty values ignored); `RetentionError.subjectRequired` unless
    /// exactly one key is given.
    public init(keys values: [String: String]) throws(RetentionError) {
        let given = Self.keys.compactMap { key in values[key].flatMap { $0.isEmpty ? nil : (key, $0) } }
        guard given.count == 1, let (key, value) = given.first, value.count <= 254 else {
            throw .subjectRequired
        }
        switch key {
        case "email": self = .email(value)
        case "userId": self = .userID(value)
        default: self = .slackUser(value)
        }
    }

    /// The key and value, as echoed in an export.
    public var pair: (key: String, value: String) {
        switch self {
        case .email(let value): ("email", value)
        case .userID(let value): ("userId", value)
        case .slackUser(let value): ("slackUserId", value)
        }
    }
}

/// Which rows of one client belong to a subject, as SQL conditions with their arguments.
struct SubjectScope: Sendable {
    /// Feedback rows the subject sent or authored (deleted by an erasure).
    var feedback: (sql: String, arguments: StatementArguments)
    /// Feedback rows the subject only forwarded in Slack (exported; an erasure nulls the forwarder id).
    var forwarded: (sql: String, arguments: StatementArguments)?
    /// End-user records of the subject.
    var endUsers: (sql: String, arguments: StatementArguments)?

    /// Resolves the subject: an email reaches the end users identified with it, a user id the email it was
    /// identified with, so both routes find the same person.
    static func resolve(_ subject: DataSubject, clientID: String, in db: Database) throws -> SubjectScope {
        switch subject {
        case .email(let email):
            let userIDs = try String.fetchAll(
                db, sql: "SELECT user_id FROM end_user WHERE client_id = ? AND lower(email) = lower(?)",
                arguments: [clientID, email])
            return SubjectScope(
                feedback: matching(clientID: clientID, emails: [email], userIDs: userIDs), forwarded: nil,
                endUsers: ("client_id = ? AND lower(email) = lower(?)", [clientID, email]))
        case .userID(let userID):
            let emails = try String.fetchAll(
                db, sql: "SELECT email FROM end_user WHERE client_id = ? AND user_id = ? AND email IS NOT NULL",
                arguments: [clientID, userID])
            return SubjectScope(
                feedback: matching(clientID: clientID, emails: emails, userIDs: [userID]), forwarded: nil,
                endUsers: ("client_id = ? AND user_id = ?", [clientID, userID]))
        case .slackUser(let member):
            return SubjectScope(
                feedback: ("client_id = ? AND slack_author_id = ?", [clientID, member]),
                forwarded: (
                    "client_id = ? AND slack_forwarded_by = ? AND (slack_author_id IS NULL OR slack_author_id <> ?)",
                    [clientID, member, member]
                ),
                endUsers: nil)
        }
    }

    private static func matching(clientID: String, emails: [String], userIDs: [String])
        -> (sql: String, arguments: StatementArguments)
    {
        var alternatives: [String] = []
        var arguments: StatementArguments = [clientID]
        if !emails.isEmpty {
            alternatives.append("lower(user_email) IN (\(marks(emails.count, "lower(?)")))")
            arguments += StatementArguments(emails)
        }
        if !userIDs.isEmpty {
            alternatives.append("user_id IN (\(marks(userIDs.count, "?")))")
            arguments += StatementArguments(userIDs)
        }
        if alternatives.isEmpty { return ("0", []) }
        return ("client_id = ? AND (\(alternatives.joined(separator: " OR ")))", arguments)
    }

    private static func marks(_ count: Int, _ mark: String) -> String {
        Array(repeating: mark, count: count).joined(separator: ", ")
    }
}
