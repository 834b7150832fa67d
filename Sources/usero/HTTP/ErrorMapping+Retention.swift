import Feedback
import Hummingbird
import Retention

extension ErrorMapping {
    /// Retention's errors; nil for anything else.
    static func retention(_ error: any Error) -> (HTTPResponse.Status, ErrorBody)? {
        switch error {
        case RetentionError.subjectRequired:
            (.badRequest, ErrorBody("Give exactly one of email, userId, slackUserId"))
        default:
            nil
        }
    }
}
