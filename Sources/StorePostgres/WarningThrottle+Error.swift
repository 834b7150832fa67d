public import Feedback
public import Logging

extension WarningThrottle {
    /// Logs `message` with `error` at warning level unless held back; a line let through says how many like it were
    /// held back since the last one (`similar_since_last`).
    func warn(_ message: Logger.Message, error: any Error, on logger: Logger) {
        warn(message, metadata: ["error": "\(PostgresErrorText.describe(error))"], on: logger)
    }
}
