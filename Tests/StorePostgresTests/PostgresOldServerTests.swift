import PostgresNIO
@testable import StorePostgres
import Testing

/// A server before PostgreSQL 11 does not know the `jit` setting every session sends at connection, and refuses the
/// connection (42704) before the version check could name the server: that refusal says what usero needs. No such
/// server here: a setting this server does not know either stands in for it.
@Suite(.enabled(if: TestPostgres.isAvailable, TestPostgres.skipReason))
struct PostgresOldServerTests {
    @Test func aSessionSettingTheServerDoesNotKnowSaysWhichPostgreSQLUseroNeeds() async throws {
        let settings = try TestPostgres.settings()
        var configuration = try settings.connectionConfiguration()
        configuration.options.additionalStartupParameters = [("usero_no_such_setting", "on")]
        let refusal = await #expect(throws: PSQLError.self) {
            let connection = try await PostgresConnection.connect(
                configuration: configuration, id: 1, logger: TestPostgres.logger)
            try await connection.close()
        }
        let error = try #require(refusal)
        #expect(error.serverInfo?[.sqlState] == "42704")
        let text = PostgresErrorText.startupFailure(error, settings: settings, variable: "USERO_DATABASE").description
        #expect(text.hasPrefix("USERO_DATABASE: PostgreSQL refused the connection: 42704 "), "\(text)")
        #expect(text.contains("usero needs PostgreSQL 12 or later"), "\(text)")
    }
}
