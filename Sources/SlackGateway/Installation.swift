import Feedback
import Foundation
public import GRDB

/// A workspace's installation as stored; the bot token only as a sealed envelope.
public struct Installation: Sendable {
    public var teamId: String
    public var clientId: String
    public var enterpriseId: String?
    public var teamName: String?
    public var botUserId: String?
    public var botId: String?
    public var appId: String?
    public var scopes: String
    public var installerUserId: String?
    /// `KeyRing` envelope of the bot token, bound to `teamId`; nil once Slack revoked the token.
    public var tokenEnvelope: [UInt8]?
    public var tokenKeyId: String?
    public var installedAt: Int64

    /// What the admin API shows: never the token.
    public var summary: InstallationSummary {
        InstallationSummary(
            teamId: teamId, teamName: teamName, installedAt: iso8601Millis(installedAt),
            scopes: scopes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
    }
}

/// `GET /api/slack/installation`: `{"teamId","teamName","installedAt","scopes"}`.
public struct InstallationSummary: Sendable, Codable, Equatable {
    public var teamId: String
    public var teamName: String?
    public var installedAt: String
    public var scopes: [String]

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(teamId, forKey: .teamId)
        try c.encode(teamName, forKey: .teamName)
        try c.encode(installedAt, forKey: .installedAt)
        try c.encode(scopes, forKey: .scopes)
    }
}

/// The SQL of installations, tombstones and event ids, for use inside a caller's `write` or `read`.
public enum InstallationRecords {
    static let columns = """
        team_id, client_id, enterprise_id, team_name, bot_user_id, bot_id, app_id, scopes, installer_user_id,
        token_envelope, token_key_id, installed_at
        """

    /// The installation of `teamId`, if any.
    public static func installation(team teamId: String, in db: Database) throws -> Installation? {
        try Row.fetchOne(db, sql: "SELECT \(columns) FROM slack_installation WHERE team_id = ?", arguments: [teamId])
            .map(installation(from:))
    }

    /// The client's newest installation, if any.
    public static func installation(client clientId: String, in db: Database) throws -> Installation? {
        try Row.fetchOne(
            db,
            sql: "SELECT \(columns) FROM slack_installation WHERE client_id = ? ORDER BY installed_at DESC LIMIT 1",
            arguments: [clientId]
        ).map(installation(from:))
    }

    /// Every installation that still holds a token.
    public static func sealedInstallations(in db: Database) throws -> [Installation] {
        try Row.fetchAll(
            db, sql: "SELECT \(columns) FROM slack_installation WHERE token_envelope IS NOT NULL"
        ).map(installation(from:))
    }

    /// Stores `installation`, replacing a previous one for the same team, and lifts the team's tombstone.
    public static func save(_ i: Installation, in db: Database) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO slack_installation (\(columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            arguments: [
                i.teamId, i.clientId, i.enterpriseId, i.teamName, i.botUserId, i.botId, i.appId, i.scopes,
                i.installerUserId, i.tokenEnvelope.map { Data($0) }, i.tokenKeyId, i.installedAt,
            ])
        try db.execute(sql: "DELETE FROM slack_tombstone WHERE team_id = ?", arguments: [i.teamId])
    }

    /// Replaces a team's sealed token (re-sealing under a new key).
    public static func updateEnvelope(team: String, envelope: [UInt8], keyId: String, in db: Database) throws {
        try db.execute(
            sql: "UPDATE slack_installation SET token_envelope = ?, token_key_id = ? WHERE team_id = ?",
            arguments: [Data(envelope), keyId, team])
    }

    /// Forgets a team's token but keeps the installation (tokens_revoked).
    static func dropToken(team: String, in db: Database) throws {
        try db.execute(
            sql: "UPDATE slack_installation SET token_envelope = NULL, token_key_id = NULL WHERE team_id = ?",
            arguments: [team])
    }

    /// Whether the team uninstalled and has not installed again.
    static func isTombstoned(team: String, in db: Database) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM slack_tombstone WHERE team_id = ?", arguments: [team]) ?? false
    }

    /// Records an event id; false when it was seen before (a retry).
    static func recordEvent(_ eventId: String, at now: Int64, in db: Database) throws -> Bool {
        try db.execute(
            sql: "INSERT OR IGNORE INTO slack_event_seen (event_id, seen_at) VALUES (?, ?)", arguments: [eventId, now])
        return db.changesCount > 0
    }

    /// The id of the row already holding this message for this client, if any.
    static func capturedRow(client: String, team: String, channel: String, ts: String, in db: Database) throws
        -> String?
    {
        try String.fetchOne(
            db,
            sql: """
                SELECT id FROM feedback WHERE client_id = ? AND slack_team_id = ? AND slack_channel_id = ?
                AND slack_message_ts = ?
                """,
            arguments: [client, team, channel, ts])
    }

    private static func installation(from row: Row) -> Installation {
        Installation(
            teamId: row["team_id"], clientId: row["client_id"], enterpriseId: row["enterprise_id"],
            teamName: row["team_name"], botUserId: row["bot_user_id"], botId: row["bot_id"], appId: row["app_id"],
            scopes: row["scopes"], installerUserId: row["installer_user_id"],
            tokenEnvelope: (row["token_envelope"] as Data?).map { [UInt8]($0) }, tokenKeyId: row["token_key_id"],
            installedAt: row["installed_at"])
    }
}

func iso8601Millis(_ millis: Int64) -> String {
    iso8601(Date(timeIntervalSince1970: Double(millis) / 1000))
}
