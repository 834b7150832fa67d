public import Feedback
public import PostgresNIO

/// Background work that fails on PostgreSQL (a retention sweep, a Slack job, the heartbeat) logs the SQLSTATE through
/// `errorMetadata`, as a request that fails does: the type alone ("PSQLError") says nothing.
extension PSQLError: StoreErrorCode {
    public var storeErrorCode: String? { PostgresErrorText.sqlState(of: self) }
}
