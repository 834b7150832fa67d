public import ArgumentParser
import Feedback
import Inbox
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import StorePostgres
import Synchronization
import UnixSignals
#if canImport(Glibc)
import Glibc
#endif

/// `usero`: the feedback service and its administration commands.
@main
struct UseroCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usero",
        abstract: "Self-hostable service that turns user feedback into work.",
        subcommands: [
            Serve.self, Clients.self, RetentionCommand.self, TokensCommand.self, DatabaseCommand.self,
        ])

    /// As `AsyncParsableCommand.main`, but a command that fails on PostgreSQL says why: postgres-nio's error describes
    /// itself as a "generic description" only, so `clients create` on a read-only server or as a role without a grant
    /// printed nothing an operator could act on (SQLite's errors name their cause). Exit 1, as before.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            // In the terms of the other lines usero prints (`usero: …`), not ArgumentParser's `Error: …`.
            if let failure = StoreFailure(error) {
                printNote(failure.description)
                exit(withError: ExitCode.failure)
            }
            if let missing = error as? NoSuchClient {
                printNote(missing.description)
                exit(withError: ExitCode.failure)
            }
            exit(withError: error)
        }
    }
}

/// A store error a command ended with, in words an operator can act on: the SQLSTATE and the server's message (as
/// startup failures say them), or why the connection failed; never a query or the values it carried.
struct StoreFailure: Error, CustomStringConvertible {
    let description: String

    /// nil for an error that describes itself already.
    init?(_ error: any Error) {
        if PostgresErrorText.isPostgresError(error) {
            description = "USERO_DATABASE: PostgreSQL: \(PostgresErrorText.describe(error))"
        } else if ErrorMapping.isSQLiteBusy(error) {
            // SQLite's own words were "SQLite error 5: database is locked - while executing `BEGIN IMMEDIATE
            // TRANSACTION`", after ten silent seconds (found by a review).
            description =
                "USERO_DATABASE: the SQLite file stayed locked by another transaction (a long write by another "
                + "process, or a sqlite3 session inside BEGIN) until the wait ran out; the step that met it changed "
                + "nothing: run the command again when that transaction ends"
        } else {
            return nil
        }
    }
}

/// Logs go to stderr, at `LOG_LEVEL` (default info; a level that is not one is refused by `AppConfig.load`, which
/// every command runs before it logs anything).
func makeLogger(label: String = "usero") -> Logger {
    var logger = Logger(label: label) { StderrLogHandler(label: $0) }
    let text = ProcessInfo.processInfo.environment["LOG_LEVEL"]?.trimmingCharacters(in: .whitespaces)
    logger.logLevel = (try? AppConfig.logLevel(text?.isEmpty == false ? text : nil)) ?? .info
    return logger
}

/// One line for the person at the terminal, on stderr (stdout is a command's JSON alone): `usero: TEXT`.
func printNote(_ text: String) {
    FileHandle.standardError.write(Data("usero: \(text)\n".utf8))
}

/// Prints one JSON value on stdout, and throws `OutputFailed` when it could not be written whole (a full disk behind
/// `> keys.json`; a closed pipe ends the process by SIGPIPE, which exits non-zero too): `print` ignores such errors, and `clients create` exited 0 with its admin key lost
/// (found by a review).
func printJSON(_ value: some Encodable) throws {
    try printJSON(text: try JSONResponse.encoded(value))
}

/// Prints JSON text already made, and a line end, as `printJSON` does.
func printJSON(text: some Collection<UInt8>) throws {
    var data = Data(text)
    data.append(UInt8(ascii: "\n"))
    try data.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let written = Glibc.write(STDOUT_FILENO, raw.baseAddress! + offset, raw.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw OutputFailed(reason: String(cString: strerror(errno)))
            }
            offset += written
        }
    }
}

/// Standard output could not take a command's answer.
struct OutputFailed: Error, CustomStringConvertible {
    let reason: String
    var description: String { "standard output could not be written (\(reason))" }
}

/// Prints a new admin key; when it cannot be written, ends the command with exit 1 and says how to get another: the
/// key is stored only as a hash, so it is lost.
func printAdminKey(clientID: String, key: String) throws {
    do {
        // In the contract's order (a dictionary's keys would come sorted, the key first).
        var text = ""
        var object = JSONObjectText(opening: &text)
        object.string("clientId", clientID, in: &text)
        object.string("adminKey", key, in: &text)
        object.close(&text)
        try printJSON(text: text.utf8)
    } catch let failed as OutputFailed {
        printNote(
            "\(failed.description): the admin key of \(clientID) is lost; make a new one with usero clients rotate-key \(clientID)")
        throw ExitCode.failure
    }
}

/// The configuration and the store, for the administration commands: the same reading of the environment as
/// `serve`, so a command and the service never disagree about where the data is. Only a command that may start a
/// store (`clients create`) is `creating`; the others refuse a SQLite file that is not there.
func openBackend(creating: Bool = false) async throws -> (AppConfig, Backend) {
    try await configured {
        let config = try AppConfig.load(host: nil, port: nil, environment: ProcessInfo.processInfo.environment)
        return (config, try await Backend.open(config, creating: creating))
    }
}

/// Runs `body`; a configuration mistake in it ends the command as it ends `serve`: one line naming the variable,
/// exit 78 (EX_CONFIG), not the usage text meant for a mistyped command.
func configured<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as AppConfig.Invalid {
        throw Serve.refuse(error.description)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP service until SIGINT or SIGTERM.")

    @Option(help: "Address to listen on (USERO_HOST, default 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on (USERO_PORT, default 8080).") var port: Int?

    func run() async throws {
        let logger = makeLogger()
        let config: AppConfig
        let app: Application<AppResponder>
        let parts: AppParts
        let listening = Listening()
        // Startup may wait a long time (USERO_DATABASE_WAIT_SECONDS, another instance's migration): a stop signal
        // meanwhile ends it as one does after serving, exit 0, rather than by the signal (143).
        let stopBeforeServing = Self.stopOnSignalUntilServing(logger: logger)
        defer { stopBeforeServing.cancel() }
        do {
            config = try AppConfig.load(host: host, port: port, environment: ProcessInfo.processInfo.environment)
            try config.requireSharedTokenKey()
            if let problem = await Self.listeningProblem(host: config.host, port: config.port) {
                throw refuseToListen(config, problem)
            }
            // Before the store opens (and possibly waits for PostgreSQL): a data folder usero cannot write in would
            // fail every upload with a 500.
            try DataFolder.prepare(config)
            (app, parts) = try await buildApplication(config: config, logger: logger) { port in
                listening.set()
                // Which store, so that an operator sees at once a serve on another store than the one meant.
                logger.info(
                    "usero listening", metadata: ["host": "\(config.host)", "port": "\(port)", "store": "\(config.storeName)"])
                // Once serving: a start refused for another reason says that alone.
                if let warning = config.publicURLWarning { logger.warning("\(warning)") }
            }
        } catch let error as AppConfig.Invalid {
            throw Self.refuse(error.description)
        }
        stopBeforeServing.cancel()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: parts.registry))
        // SIGTERM drains in-flight requests, but a client trickling a body (or stalled mid-body) would hold the drain
        // until its request timeout (120 s), past what a deployment waits (30 s) before SIGKILL. After
        // `shutdownDeadline` the group is cancelled: open connections close and the process exits 0.
        // The backstop is last, so the first told of the shutdown: it starts its clock at the signal.
        let backstop = ShutdownBackstop(limit: Self.shutdownBackstop, logger: logger)
        var group = ServiceGroupConfiguration(
            services: [app, backstop], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = Self.shutdownDeadline
        defer { backstop.disarm() }
        do {
            try await ServiceGroup(configuration: group).run()
        } catch where !listening.isSet {
            // The server never listened: the address is taken, not this machine's, or not allowed.
            guard let problem = Self.bindProblem(error) else { throw error }
            throw refuseToListen(config, problem)
        }
        logger.info("usero stopped")
    }

    /// The one line for an address `serve` cannot listen on, naming the option or variable that set it.
    func refuseToListen(_ config: AppConfig, _ problem: String) -> ExitCode {
        let portName = port == nil ? "USERO_PORT" : "--port"
        let hostName = host == nil ? "USERO_HOST" : "--host"
        return Self.refuse("\(portName) \(config.port) on \(hostName) \(config.host) cannot be listened on (\(problem))")
    }

    /// Why `host`:`port` cannot be listened on, found by binding it and letting go before anything starts: a port in
    /// use stops `serve` with its one line before the store opens and the background work (the group commit, the
    /// sweeps, the Slack worker) starts beside a server that will never listen, whose failures as the store closed
    /// under it came first (a PostgreSQL deployment saw half a dozen lines blaming the store). Nil when it can be
    /// (port 0: any free one), or when the failure is not a bind problem: the server's own bind then decides.
    static func listeningProblem(host: String, port: Int) async -> String? {
        do {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port).get()
            try? await channel.close()
            return nil
        } catch {
            return bindProblem(error)
        }
    }

    /// How long SIGTERM waits for in-flight requests and background work to finish before closing what is left.
    static let shutdownDeadline: Duration = .seconds(10)
    /// How long after SIGTERM the process ends even if something it waits for never stops (a deployment's SIGKILL
    /// comes after 30 s).
    static let shutdownBackstop: Duration = shutdownDeadline + .seconds(5)

    /// Until cancelled, SIGTERM or SIGINT ends the process with 0. Nothing has been accepted before the service
    /// listens, so there is nothing to drain, and what startup may be in the middle of is safe to cut short: a wait
    /// for the database, or a migration (a transaction, in either store). Cancelled right before the service group
    /// takes the signals over.
    static func stopOnSignalUntilServing(logger: Logger) -> Task<Void, Never> {
        return Task {
            for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                guard !Task.isCancelled else { return }
                logger.info("usero stopped before it served", metadata: ["signal": "\(signal)"])
                Foundation.exit(0)
            }
        }
    }

    /// A configuration mistake: one line naming the variable or file, never its value; EX_CONFIG.
    static func refuse(_ description: String, code: Int32 = 78) -> ExitCode {
        printNote(description)
        return ExitCode(code)
    }

    /// Why binding failed, in words, when `error` is a failure to bind (NIO's `IOError` reads "bind(descriptor:ptr:
    /// bytes:): Address already in use (errno: 98)"; an unknown host is a `SocketAddressError`); nil for anything
    /// else, which is not a configuration mistake.
    static func bindProblem(_ error: any Error) -> String? {
        let text = "\(error)"
        for (code, words) in [(EADDRINUSE, "the port is in use"), (EADDRNOTAVAIL, "the address is not this machine's"),
                              (EACCES, "permission denied")]
        where text.contains("(errno: \(code))") {
            return words
        }
        return "\(type(of: error))".contains("SocketAddressError") ? "the host does not resolve" : nil
    }
}

/// Set once the server listens (Hummingbird's `onServerRunning`): a failure before it is a bind failure.
final class Listening: Sendable {
    private let state = Mutex(false)
    func set() { state.withLock { $0 = true } }
    var isSet: Bool { state.withLock { $0 } }
}

struct Clients: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage clients (projects).", subcommands: [Create.self, List.self, Update.self, RotateKey.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a client and print {\"clientId\",\"adminKey\"} as JSON.")

        @Option(help: "Project name.") var name: String
        @Option(help: "Retention plan: free or paid.") var plan: Plan = .free
        @Option(name: .customLong("allowed-origin"), help: "Origin allowed to submit (repeatable).")
        var allowedOrigins: [String] = []

        func validate() throws {
            guard !name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw ValidationError("--name is empty") }
            // Shown in the inbox's bar and its title: a line, not a document.
            guard name.unicodeScalars.count <= 200 else { throw ValidationError("--name is longer than 200 characters") }
            try Clients.validate(allowedOrigins)
        }

        func run() async throws {
            let (config, backend) = try await openBackend(creating: true)
            let (client, key) = try await backend.feedback.createClient(
                name: name, plan: plan, allowedOrigins: Clients.normalized(allowedOrigins), at: Date())
            try printAdminKey(clientID: client.id, key: key)
            // Where: a client made in another store than serve's answers 404 there, and a shell without serve's
            // USERO_DATABASE finds an older SQLite file without a word.
            printNote("client created in \(config.storeName)")
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a client's plan or domain allowlist; prints the client.")

        @Argument(help: "The client id.") var clientID: String
        @Option(help: "Retention plan: free or paid.") var plan: Plan?
        @Option(
            name: .customLong("allowed-origin"),
            help: "Origin allowed to submit (repeatable): the list given replaces the client's list.")
        var allowedOrigins: [String] = []
        @Flag(name: .customLong("any-origin"), help: "Clear the allowlist: every origin may submit.")
        var anyOrigin = false

        func validate() throws {
            guard plan != nil || !allowedOrigins.isEmpty || anyOrigin else {
                throw ValidationError("nothing to change: give --plan, --allowed-origin or --any-origin")
            }
            guard allowedOrigins.isEmpty || !anyOrigin else {
                throw ValidationError("--allowed-origin and --any-origin contradict each other: give one")
            }
            try Clients.validate(allowedOrigins)
        }

        func run() async throws {
            let (_, backend) = try await openBackend()
            let origins = anyOrigin ? [] : allowedOrigins.isEmpty ? nil : Clients.normalized(allowedOrigins)
            guard
                let client = try await backend.feedback.updateClient(
                    clientID: clientID, plan: plan, allowedOrigins: origins)
            else { throw NoSuchClient(id: clientID) }
            try printJSON(ClientJSON(client))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every client (not those being closed) as a JSON array, oldest first; never a key.")

        func run() async throws {
            let (_, backend) = try await openBackend()
            try printJSON(try await backend.feedback.liveClients().map(ClientJSON.init))
        }
    }

    /// Refuses an origin a browser never sends, naming it and what to give instead.
    static func validate(_ origins: [String]) throws {
        for origin in origins where !OriginPattern.isValid(origin) {
            throw ValidationError(
                "--allowed-origin \(origin) is not an origin a browser sends: give https://HOST[:PORT] (or http://), "
                    + "a bare HOST[:PORT], or *.DOMAIN for its subdomains")
        }
    }

    /// The origins as stored: two spellings of one origin (`https://App.example.com:443`, `https://app.example.com`)
    /// are one entry.
    static func normalized(_ origins: [String]) -> [String] {
        var seen = Set<String>()
        return origins.map(OriginPattern.normalize).filter { seen.insert($0).inserted }
    }
}

extension Clients {
    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: """
                Replace a client's admin key; prints {"clientId","adminKey"} once. The old key stops working, and \
                inbox sign-ins made with it end.
                """)

        @Argument(help: "The client id.") var clientID: String

        func run() async throws {
            let (_, backend) = try await openBackend()
            guard let key = try await backend.feedback.rotateAdminKey(clientID: clientID) else {
                throw NoSuchClient(id: clientID)
            }
            // The inbox signs a browser in with the key; a session holds the client, not the key. Replacing a key
            // (a leaked one, say) ends them, or whoever signed in with the old key would keep the inbox. Should this
            // fail, the new key is not printed: rotating again replaces it and ends them.
            try await backend.inboxSessions.endInboxSessions(clientID: clientID)
            try printAdminKey(clientID: clientID, key: key)
        }
    }
}

/// A command named a client that does not exist (or is being closed): one line, exit 1, no usage text (the
/// command was written correctly; the id is wrong).
struct NoSuchClient: Error, CustomStringConvertible {
    let id: String
    var description: String { "no client \(id)" }
}

/// A client as the CLI prints it: never the admin key.
struct ClientJSON: Encodable {
    var clientId: String
    var name: String
    var plan: String
    var allowedOrigins: [String]
    var createdAt: String

    init(_ client: Client) {
        clientId = client.id
        name = client.name
        plan = client.plan.rawValue
        allowedOrigins = client.allowedOrigins
        createdAt = iso8601(client.createdAt)
    }
}

extension Plan: ExpressibleByArgument {}

/// Ends the process `limit` after a shutdown began, if it has not ended by then. After the drain's deadline the
/// service group cancels what is still running, and waits for it to end: a task that never ends (once, after a
/// PostgreSQL restart, a `serve` told to stop kept running with nothing left open) would keep the process alive until
/// a SIGKILL. Everything answered is durable by then, so ending is safe; the warning says what happened.
final class ShutdownBackstop: Service, Sendable {
    let limit: Duration
    private let logger: Logger
    private let end: @Sendable () -> Void
    private let disarmed = Mutex(false)

    init(limit: Duration, logger: Logger, end: @escaping @Sendable () -> Void = { exit(0) }) {
        self.limit = limit
        self.logger = logger
        self.end = end
    }

    func run() async throws {
        // Returns at the signal, or throws when the group is cancelled instead: the clock starts either way.
        try? await gracefulShutdown()
        // A thread of its own, not a task: what keeps the process alive may be holding Swift's concurrency threads.
        let thread = Thread { [self] in
            Thread.sleep(forTimeInterval: limit.inSeconds)
            guard !disarmed.withLock({ $0 }) else { return }
            logger.warning(
                "usero stopped: the shutdown did not finish within its limit; ending the process",
                metadata: ["limit": "\(limit)"])
            end()
        }
        thread.start()
    }

    /// The shutdown finished: the clock, if running, ends nothing.
    func disarm() { disarmed.withLock { $0 = true } }
}
