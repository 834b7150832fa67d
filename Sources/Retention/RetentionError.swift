/// What can go wrong in retention and privacy requests. Cases carry no content.
public enum RetentionError: Error, Equatable, Sendable {
    /// A data-subject request did not name exactly one of `email`, `userId`, `slackUserId`.
    case subjectRequired
}
