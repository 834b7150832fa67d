/// What can go wrong in retention and privacy requests. Cases carry no content (at most a field's name).
public enum RetentionError: Error, Equatable, Sendable {
    /// A data-subject request did not name exactly one of `email`, `userId`, `slackUserId`.
    case subjectRequired
    /// The subject's value holds NUL, which no stored email or id does.
    case textWithNUL(field: String)
    /// The subject's email holds white space inside, which no stored address does: most likely a `+` sent unescaped
    /// in a query string, where it means a space.
    case emailWithSpace
    /// One field of a data-subject request is wrong: not one of the keys, given twice, too long, not a string.
    case invalidSubjectField(field: String, problem: String)
}
