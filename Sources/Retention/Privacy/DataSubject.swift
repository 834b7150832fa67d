import Feedback

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
        try self.init(pairs: values.map { ($0.key, $0.value) })
    }

    /// The subject named by `pairs`, as a query string or a JSON object gives them: `RetentionError.subjectRequired`
    /// unless exactly one of `keys` has a value (empty values count as absent); `invalidSubjectField` naming a key
    /// that is none of them, one given twice or a value past 254 characters, so that a typo (`userid`) or a repeated
    /// key never narrows an erasure silently to the other key, and the error says which.
    ///
    /// An email loses the white space around it: no stored address has any (`SubmissionParser.isValidEmail`), so
    /// `" bob@example.com "` would otherwise erase nothing and say so as a success.
    public init(pairs given: [(key: String, value: String)]) throws(RetentionError) {
        let pairs = given.map { $0.key == "email" ? (key: $0.key, value: $0.value.trimmingSurroundingWhitespace) : $0 }
        var seen = Set<String>()
        for (key, _) in pairs {
            guard Self.keys.contains(key) else { throw .invalidSubjectField(field: key, problem: ErrorBody.unknownField) }
            guard seen.insert(key).inserted else {
                throw .invalidSubjectField(field: key, problem: "Given more than once")
            }
        }
        let given = pairs.filter { !$0.value.isEmpty }
        guard given.count == 1, let (key, value) = given.first else { throw .subjectRequired }
        guard !value.exceedsLength(254) else {
            throw .invalidSubjectField(field: key, problem: "Must be at most 254 characters")
        }
        // `a\u{0}b` must not export or erase `a` (see `containsNUL`).
        guard !value.containsNUL else { throw .textWithNUL(field: key) }
        // Said, not answered with an empty export or an erasure of nothing: `?email=bob+tag@example.com` reads as
        // "bob tag@example.com" (a query string is a form, `+` a space).
        if key == "email", value.unicodeScalars.contains(where: \.properties.isWhitespace) { throw .emailWithSpace }
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
