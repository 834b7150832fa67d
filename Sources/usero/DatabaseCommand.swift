import ArgumentParser
import Feedback
import Foundation
import SlackGateway
import StorePostgres
import StoreSQLite

/// `usero database copy --from FILE`: moves a deployment from its SQLite file to the PostgreSQL database
/// `USERO_DATABASE` names, for a customer who outgrew one machine. Everything comes along: clients and their admin
/// keys, feedback, screenshots (from `USERO_DATA_DIR/screenshots` into the database), Slack installations (their
/// sealed tokens as they are), queued jobs, audit entries, end users, inbox sign-ins.
struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "database", abstract: "Move a SQLite store to PostgreSQL (one way).", subcommands: [Copy.self])

    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: """
                Copy a SQLite store (and its screenshot files under USERO_DATA_DIR) into the empty PostgreSQL \
                database USERO_DATABASE names, in one transaction; prints rows per table as JSON. Stop the service \
                on the SQLite file first.
                """)

        @Option(help: "The SQLite file to copy from (a stopped service's USERO_DATABASE).") var from: String

        func run() async throws {
            let (config, source, destination) = try await configured {
                let config = try AppConfig.load(host: nil, port: nil, environment: ProcessInfo.processInfo.environment)
                guard config.postgres != nil else {
                    throw AppConfig.Invalid(
                        description: "USERO_DATABASE must be the postgres:// URL of the database to copy into")
                }
                let source: SQLiteExport
                do {
                    source = try SQLiteExport(path: from, dataDirectory: config.dataDirectory)
                } catch let refusal as StoreCopyRefused {
                    throw AppConfig.Invalid(description: refusal.description)
                }
                // The copy makes the PostgreSQL store (an empty database is what it copies into).
                return (config, source, try await Backend.open(config, creating: true))
            }
            guard let postgres = destination.postgres else { throw ExitCode(78) }
            let counts: PostgresStore.CopyCounts
            do {
                counts = try await postgres.importStore(from: source)
            } catch let refusal as StoreCopyRefused {
                // Nothing was written: the copy is one transaction.
                throw Serve.refuse(refusal.description, code: 1)
            } catch is StoreUnavailable {
                throw Serve.refuse(
                    "the PostgreSQL database stopped answering during the copy (its connection closed, or a "
                        + "statement waited 60 s); nothing was written, copy again", code: 1)
            } catch PostgresWriterError.commitInDoubt {
                throw Serve.refuse(
                    "the connection to PostgreSQL was lost as the copy committed, and the database could not be "
                        + "asked afterwards whether it did: if its tables hold the rows, the copy is complete; if "
                        + "they are empty, copy again", code: 1)
            }
            // Every table a copy fills, 0 where the file had no rows: an operator checking the counts can tell an
            // empty table from one left out.
            var copied = Dictionary(
                uniqueKeysWithValues: PostgresSchema.tables.filter { !SQLiteExport.notCopied.contains($0) }.map { ($0, 0) })
            for (table, rows) in counts { copied[table, default: 0] += rows }
            try printJSON(copied)
            await warnAboutTokenKeys(config: config, store: destination.slack)
        }

        /// The copied Slack tokens are AES-GCM ciphertext sealed with the SQLite deployment's token key: a service
        /// on PostgreSQL with another key can open none of them. Says so (no key, no token) instead of leaving it to
        /// the first capture.
        func warnAboutTokenKeys(config: AppConfig, store: any SlackStore) async {
            guard let sealed = try? await store.sealedInstallations().count, sealed > 0 else { return }
            let unknown: Int
            if case let (keyRing, _)? = try? SlackKeys.load(config: config, createIfMissing: false, logger: nil) {
                unknown = (try? await TokenResealer(store: store, keyRing: keyRing).installationsWithAnUnknownKey()) ?? 0
            } else {
                unknown = sealed
            }
            let file = SlackKeys.keyFilePath(in: config.dataDirectory)
            guard unknown > 0 else {
                // They open with the SQLite deployment's key file, which serve on PostgreSQL never reads.
                if config.tokenKeyBase64 == nil {
                    printNote(
                        "the \(sealed) Slack workspaces' tokens open with \(file); serve on PostgreSQL reads its key only "
                            + "from USERO_TOKEN_KEY: start every instance with USERO_TOKEN_KEY_FILE=\(file)")
                }
                return
            }
            printNote(
                "\(unknown) of \(sealed) Slack workspaces' tokens are sealed with a key this environment lacks: give "
                    + "serve the SQLite deployment's key (USERO_TOKEN_KEY, or USERO_TOKEN_KEY_FILE=its USERO_DATA_DIR/"
                    + "token.key; a new key opens none of them)")
        }
    }
}
