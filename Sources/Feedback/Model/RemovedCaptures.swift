/// How long a store remembers that a row captured from Slack was deleted on purpose (by `DELETE
/// /api/feedback/{id}`, an erasure or a retention sweep), so that a recovery sweep does not capture the message
/// again and undo the deletion. Only the message's address is kept (client, workspace, channel, timestamp): no text,
/// no member id.
///
/// A sweep reads messages posted at most 7 days back (`SlackRecoveryRules.maxManualWindow`), and a message is
/// always posted before its row is captured and deleted; so a deletion older than that, with a day's margin for
/// clocks, can never meet a sweep again. Rows captured longer ago than this are not recorded at all, and records
/// older than this are forgotten.
public enum RemovedCaptures {
    /// Eight days, in milliseconds.
    public static let rememberedFor: Int64 = 8 * 24 * 3_600_000

    /// Captured rows created before this instant need no record when deleted at `now`; records made before it can
    /// go.
    public static func horizon(at now: Int64) -> Int64 { now - rememberedFor }
}
