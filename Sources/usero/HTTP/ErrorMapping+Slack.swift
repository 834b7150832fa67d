import Feedback
import Hummingbird

extension ErrorMapping {
    /// SlackGateway's errors; nil for anything else.
    static func slack(_ error: any Error) -> (HTTPResponse.Status, ErrorBody)? {
        nil
    }
}
