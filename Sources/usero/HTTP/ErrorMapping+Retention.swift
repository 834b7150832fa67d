import Feedback
import Hummingbird
import Retention

extension ErrorMapping {
    /// Retention's errors; nil for anything else.
    static func retention(_ error: any Error) -> (HTTPResponse.Status, ErrorBody)? {
        switch error {
        case RetentionError.subjectRequired:
            (.badRequest, ErrorBody("Give exactly one of email, userId, slackUserId"))
        case RetentionError.textWithNUL(let field):
            (.badRequest, ErrorBody("Invalid data provided", issues: [field: ["Must not contain NUL characters"]]))
        case RetentionError.invalidSubjectField(let field, let problem):
            (.badRequest, ErrorBody("Invalid data provided", issues: [field: [problem]]))
        case RetentionError.emailWithSpace:
            (.badRequest, ErrorBody(
                "Invalid data provided",
                issues: ["email": ["Must not contain spaces (in a query string, + is a space: write it as %2B)"]]))
        default:
            nil
        }
    }
}
