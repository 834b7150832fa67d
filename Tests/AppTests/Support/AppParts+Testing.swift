import Feedback
import Retention
import SlackGateway
@testable import StoreSQLite
@testable import usero
@testable import Inbox
import UseroTestSupport

extension AppParts {
    /// The embedded store's database, for counting rows straight from the file.
    var database: AppDatabase { backend.sqlite!.database }
    /// The embedded store's screenshot files.
    var files: ScreenshotFiles { backend.sqlite!.files }
    /// The account-data owners as the executable wires them (without a running worker).
    var accountOwners: [any AccountDataOwner] { [SlackAccountData(store: backend.slack, wakeup: nil)] }
}

extension Backend {
    /// The store at `config`, as a restarted process opens it.
    static func reopened(_ config: AppConfig) async throws -> Backend { try await open(config) }
}
