import Feedback
import Hummingbird
import SlackGateway

extension ErrorMapping {
    /// SlackGateway's errors; nil for anything else.
    static func slack(_ error: any Error) -> (HTTPResponse.Status, ErrorBody)? {
        guard let error = error as? SlackGatewayError else { return nil }
        switch error {
        case .badSignature, .staleTimestamp: return (.unauthorized, ErrorBody("Invalid Slack signature"))
        case .malformedPayload: return (.badRequest, ErrorBody("Invalid Slack payload"))
        case .notConfigured: return (.serviceUnavailable, ErrorBody("Slack is not configured"))
        case .oauthNotConfigured:
            return (
                .serviceUnavailable,
                ErrorBody("Slack install is not configured: set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET")
            )
        case .notInstalled: return (.notFound, ErrorBody("Slack is not installed for this project"))
        }
    }
}
