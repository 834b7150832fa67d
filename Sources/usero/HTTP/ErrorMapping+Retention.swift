import Feedback
import Hummingbird

extension ErrorMapping {
    /// Retention's errors; nil for anything else.
    static func retention(_ error: any Error) -> (HTTPResponse.Status, ErrorBody)? {
        nil
    }
}
