import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import SlackGateway
import StorePostgres
import Testing
@testable import usero
import UseroTestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Configuration read at startup, without running the program: values that used to pass and fail later.
@Suite struct StartupConfigTests {
    /// An IPv6 listening address and no USERO_PUBLIC_URL: the default public URL puts the address in brackets
    /// (`http://::1:8080` is not a URL, and serve refused to start naming USERO_PUBLIC_URL, which was never set).
    @Test(arguments: [("::1", "http://[::1]:8080"), ("::", "http://[::]:8080"), ("127.0.0.1", "http://127.0.0.1:8080")])
    func theDefaultPublicURLOfAnIPv6HostHasBrackets(host: String, expected: String) throws {
        let config = try AppConfig.load(host: nil, port: nil, environment: ["USERO_HOST": host])
        #expect(config.publicURL == expected)
        let flagged = try AppConfig.load(host: host, port: 9090, environment: [:])
        #expect(flagged.publicURL == expected.replacingOccurrences(of: "8080", with: "9090"))
    }

    /// Listening on every interface (or on port 0) without USERO_PUBLIC_URL: the public URL made from the host
    /// (`0.0.0.0`) is no address a browser can use, and each upload stores it in its screenshot URL, so serve warns
    /// at start.
    @Test func aPublicURLMadeFromAWildcardHostIsWarnedAbout() throws {
        for host in ["0.0.0.0", "::"] {
            let warning = try AppConfig.load(host: host, port: nil, environment: [:]).publicURLWarning
            #expect(warning?.contains("set USERO_PUBLIC_URL") == true, "\(host)")
        }
        #expect(try AppConfig.load(host: "127.0.0.1", port: nil, environment: [:]).publicURLWarning == nil)
        let set = try AppConfig.load(host: "0.0.0.0", port: nil, environment: ["USERO_PUBLIC_URL": "https://feedback.example.com"])
        #expect(set.publicURLWarning == nil)
        // Port 0: the system picks a free port at start, and the URL would keep the 0
        let anyPort = try AppConfig.load(host: nil, port: nil, environment: ["USERO_PORT": "0"])
        #expect(anyPort.publicURLWarning?.contains("http://127.0.0.1:0, which no browser can reach") == true)
        let anyPortSet = try AppConfig.load(
            host: nil, port: nil, environment: ["USERO_PORT": "0", "USERO_PUBLIC_URL": "http://127.0.0.1:8080"])
        #expect(anyPortSet.publicURLWarning == nil)
    }

    @Test func logLevelIsReadInAnyCaseAndAnythingElseIsAMistake() throws {
        #expect(try AppConfig.load(host: nil, port: nil, environment: [:]).logLevel == .info)
        #expect(try AppConfig.load(host: nil, port: nil, environment: ["LOG_LEVEL": "TRACE"]).logLevel == .trace)
        #expect(try AppConfig.load(host: nil, port: nil, environment: ["LOG_LEVEL": "Warning"]).logLevel == .warning)
        for bad in ["verbose", "warn", "5", "info,debug"] {
            #expect(throws: AppConfig.Invalid.self, "\(bad)") {
                try AppConfig.load(host: nil, port: nil, environment: ["LOG_LEVEL": bad])
            }
        }
    }

    /// A secret read from a file (`kubectl create secret --from-file`, `$(cat key)` keeps none, a file does) ends in a
    /// newline: it is white space around the value, as spaces are, not part of the key.
    @Test func aTrailingNewlineIsNotPartOfAValue() throws {
        let key = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        let config = try AppConfig.load(
            host: nil, port: nil,
            environment: ["USERO_TOKEN_KEY": key + "\n", "USERO_PREVIOUS_TOKEN_KEYS": key + ",\n" + key + "\r\n", "USERO_PORT": "8081\n"])
        #expect(config.tokenKeyBase64?.value == key)
        #expect(config.previousTokenKeysBase64.map(\.value) == [key, key])
        #expect(config.port == 8081)
    }

    /// Every secret may come from a file named by `NAME_FILE` (a mounted Kubernetes or Docker secret), its trailing
    /// newline left out, so that it need not sit in the environment.
    @Test func secretsAreReadFromTheFilesTheirFileVariablesName() throws {
        let folder = TestServer.makeFolder()
        func file(_ name: String, _ text: String) throws -> String {
            let url = folder.appendingPathComponent(name)
            try Data(text.utf8).write(to: url)
            return url.path
        }
        let key = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        let previous = Data((32..<64).map { UInt8($0) }).base64EncodedString()
        let config = try AppConfig.load(
            host: nil, port: nil,
            environment: [
                "USERO_DATABASE_FILE": try file("database", "postgres://usero:s3cret@db.internal:6543/feedback\n"),
                "USERO_TOKEN_KEY_FILE": try file("token-key", key + "\n"),
                "USERO_PREVIOUS_TOKEN_KEYS_FILE": try file("previous", previous + "\n"),
                "SLACK_SIGNING_SECRET_FILE": try file("signing", "8f742231b10e8888abcd99yyyzzz85a5\r\n"),
                "SLACK_CLIENT_SECRET_FILE": try file("client", "  client-secret  "),
            ])
        let postgres = try #require(config.postgres)
        #expect(postgres.endpoint == .tcp(host: "db.internal", port: 6543))
        #expect(postgres.user == "usero" && postgres.database == "feedback" && postgres.hasPassword)
        #expect(config.tokenKeyBase64?.value == key)
        #expect(config.previousTokenKeysBase64.map(\.value) == [previous])
        #expect(config.slackSigningSecret?.value == "8f742231b10e8888abcd99yyyzzz85a5")
        #expect(config.slackClientSecret?.value == "client-secret")
        // Only secrets: other variables are not read from files.
        let port = try AppConfig.load(host: nil, port: nil, environment: ["USERO_PORT_FILE": try file("port", "9999")])
        #expect(port.port == 8080)
    }

    /// A secret file that cannot be used, or a secret set both ways, stops startup with one line naming the variable
    /// (and the file, which is not secret), never what the file holds.
    @Test func aSecretFileThatCannotBeUsedIsRefusedNamingTheVariable() throws {
        let folder = TestServer.makeFolder()
        let secret = "postgres://usero:hunter2@db/feedback"
        let good = folder.appendingPathComponent("good")
        try Data(secret.utf8).write(to: good)
        let empty = folder.appendingPathComponent("empty")
        try Data(" \n".utf8).write(to: empty)
        let large = folder.appendingPathComponent("large")
        try Data(repeating: UInt8(ascii: "a"), count: AppConfig.maxSecretFileBytes + 1).write(to: large)
        let binary = folder.appendingPathComponent("binary")
        try Data([0xff, 0xfe, 0x00, 0x81]).write(to: binary)
        // Zero bytes: it was "cannot be read" (found by a review).
        let zeroBytes = folder.appendingPathComponent("zero")
        try Data().write(to: zeroBytes)
        let cases: [([String: String], String)] = [
            (["USERO_TOKEN_KEY_FILE": zeroBytes.path], "USERO_TOKEN_KEY_FILE names an empty file"),
            // Set but empty, and nothing else names the secret: it quietly meant the default store (found by a
            // review).
            (["USERO_DATABASE_FILE": ""], "USERO_DATABASE_FILE is set but empty: name the file, or unset it"),
            (["USERO_DATABASE": secret, "USERO_DATABASE_FILE": good.path],
             "USERO_DATABASE and USERO_DATABASE_FILE are both set: set only one of them"),
            (["USERO_DATABASE_FILE": folder.appendingPathComponent("missing").path],
             "USERO_DATABASE_FILE names a file that does not exist or cannot be read: \(folder.path)/missing"),
            (["SLACK_SIGNING_SECRET_FILE": empty.path], "SLACK_SIGNING_SECRET_FILE names an empty file"),
            (["SLACK_CLIENT_SECRET_FILE": folder.path], "SLACK_CLIENT_SECRET_FILE names a folder; it must name a file"),
            (["USERO_TOKEN_KEY_FILE": large.path], "USERO_TOKEN_KEY_FILE names a file over 64 KB; it must hold only the secret"),
            (["USERO_TOKEN_KEY_FILE": binary.path], "USERO_TOKEN_KEY_FILE names a file that is not UTF-8 text"),
        ]
        for (environment, message) in cases {
            let error = #expect(throws: AppConfig.Invalid.self, "\(message)") {
                try AppConfig.load(host: nil, port: nil, environment: environment)
            }
            #expect(error?.description == message)
            #expect(error?.description.contains("hunter2") == false)
        }
        // A key file that holds no key is refused as USERO_TOKEN_KEY would be, without the key.
        let notAKey = folder.appendingPathComponent("not-a-key")
        try Data("not-base64-at-all!".utf8).write(to: notAKey)
        let error = #expect(throws: AppConfig.Invalid.self) {
            try AppConfig.load(host: nil, port: nil, environment: ["USERO_TOKEN_KEY_FILE": notAKey.path])
        }
        #expect(error?.description.contains("USERO_TOKEN_KEY") == true)
        #expect(error?.description.contains("not-base64-at-all") == false)
        // Set but empty beside the secret itself: nothing is lost, it is ignored.
        let direct = try AppConfig.load(
            host: nil, port: nil, environment: ["USERO_DATABASE": folder.appendingPathComponent("u.sqlite").path, "USERO_DATABASE_FILE": " "])
        #expect(direct.databasePath.hasSuffix("u.sqlite"))
    }

    @Test func theDatabasePoolSizeIsBounded() throws {
        #expect(try AppConfig.load(host: nil, port: nil, environment: [:]).databaseMaxConnections == 16)
        let config = try AppConfig.load(host: nil, port: nil, environment: ["USERO_DATABASE_MAX_CONNECTIONS": "4"])
        #expect(config.databaseMaxConnections == 4)
    }

    @Test func theDatabaseWaitIsAWholeNumberOfSecondsUpToTenMinutes() throws {
        #expect(try AppConfig.load(host: nil, port: nil, environment: [:]).databaseWait == .zero)
        let config = try AppConfig.load(host: nil, port: nil, environment: ["USERO_DATABASE_WAIT_SECONDS": "600"])
        #expect(config.databaseWait == .seconds(600))
        for bad in ["601", "-1", "1.5", "a minute"] {
            #expect(throws: AppConfig.Invalid.self, "\(bad)") {
                try AppConfig.load(host: nil, port: nil, environment: ["USERO_DATABASE_WAIT_SECONDS": bad])
            }
        }
    }

    /// `USERO_DATABASE=` (a shell variable that did not expand, an env file that did not load) is refused rather than
    /// taken for the default: an outside review's `clients create` made a SQLite file in the working folder that way
    /// while the service ran on PostgreSQL. Unset, it is the default.
    @Test(arguments: ["", " ", "\n"])
    func anEmptyDatabaseValueIsRefused(_ value: String) throws {
        let error = #expect(throws: AppConfig.Invalid.self) {
            try AppConfig.load(host: nil, port: nil, environment: ["USERO_DATABASE": value])
        }
        #expect(error?.description.hasPrefix("USERO_DATABASE is set but empty") == true)
        #expect(try AppConfig.load(host: nil, port: nil, environment: [:]).databasePath == "data/usero.sqlite")
    }

    /// A value an env file left in quotes (`docker --env-file` keeps them) is refused saying so, never its value:
    /// it would otherwise read as an odd SQLite path, with the password in it.
    @Test(arguments: [#""postgres://u:secret@db/usero""#, "'postgres://u:secret@db/usero'", #""data/usero.sqlite""#])
    func aDatabaseValueInQuotesIsRefusedSayingSo(_ value: String) throws {
        let error = #expect(throws: AppConfig.Invalid.self) {
            try AppConfig.load(host: nil, port: nil, environment: ["USERO_DATABASE": value])
        }
        #expect(error?.description == "USERO_DATABASE is in quotes, which are part of its value here: remove them")
    }

    /// The token key file, generated into a data folder that cannot be made (its parent is a regular file: mkdir
    /// fails with ENOTDIR, for root too), fails with one line naming USERO_DATA_DIR, not Foundation's
    /// `Error Domain=NSCocoaErrorDomain …`.
    @Test func aTokenKeyFileThatCannotBeMadeNamesTheDataFolder() throws {
        let folder = TestServer.makeFolder()
        let file = folder.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        do {
            _ = try SlackKeys.keyFile(in: file.appendingPathComponent("data").path, create: true, logger: nil)
            Issue.record("a token key was made under a regular file")
        } catch let error as AppConfig.Invalid {
            #expect(error.description.contains("USERO_DATA_DIR"), "\(error)")
            #expect(!error.description.contains("Error Domain"), "\(error)")
        }
    }
}

/// The `usero` program refusing, at startup, what would otherwise have failed later.
@Suite(.serialized) struct StartupChecksCommandLineTests {
    let folder = TestServer.makeFolder()
    var environment: [String: String] { UseroBinary.storeEnvironment(in: folder) }

    /// `LOG_LEVEL=verbose` used to mean info, silently. serve and every command read the same configuration.
    @Test func anUnknownLogLevelStopsServeAndTheCommandsNamingIt() async throws {
        var settings = environment
        settings["USERO_PORT"] = "0"
        settings["LOG_LEVEL"] = "verbose"
        for command in [["serve"], ["clients", "create", "--name", "A"], ["retention", "run"], ["tokens", "reseal"]] {
            let outcome = try await UseroBinary.run(command, environment: settings)
            #expect(outcome.status == 78, "\(command): \(outcome.stderr)")
            let lines = outcome.stderr.split(separator: "\n").filter { $0.contains("LOG_LEVEL") }
            #expect(lines.count == 1, "\(command): \(outcome.stderr)")
        }
        settings["LOG_LEVEL"] = "NOTICE"
        #expect(try await UseroBinary.run(["clients", "create", "--name", "A"], environment: settings).status == 0)
    }

    /// A data folder usero cannot write in used to let serve start (every upload then answered 500) or, without
    /// USERO_TOKEN_KEY, end it with a raw Foundation error. These run as root, whom permission bits do not stop, so
    /// each case is one that fails for root too: a folder under a regular file (mkdir: ENOTDIR), /proc (no file can
    /// be created there), and a screenshots folder that is a link to /proc.
    @Test func aDataFolderThatCannotBeWrittenStopsServeNamingIt() async throws {
        let file = folder.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        let linked = folder.appendingPathComponent("linked-data")
        try FileManager.default.createDirectory(at: linked, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: linked.appendingPathComponent("screenshots").path, withDestinationPath: "/proc")
        let cases = [file.appendingPathComponent("data").path, "/proc", linked.path]
        for dataFolder in cases {
            for tokenKey in [nil, SlackTestSettings.tokenKey] {
                var settings = environment
                settings["USERO_PORT"] = "0"
                settings["USERO_DATA_DIR"] = dataFolder
                settings["USERO_TOKEN_KEY"] = tokenKey
                let outcome = try await UseroBinary.run(["serve"], environment: settings)
                #expect(outcome.status == 78, "\(dataFolder): \(outcome.stderr)")
                let lines = outcome.stderr.split(separator: "\n").filter { $0.contains("USERO_DATA_DIR") }
                #expect(lines.count == 1, "\(dataFolder): \(outcome.stderr)")
                #expect(!outcome.stderr.contains("Error Domain"), "\(outcome.stderr)")
                #expect(!outcome.stderr.contains("usero listening"), "\(outcome.stderr)")
            }
        }
        // A client's folder under screenshots/ that takes no new file (a restore left it another user's): it passed,
        // and that client's every upload answered 500 (found by a review). As root, a link to /proc/1 stands for it
        // where the kernel refuses even root there.
        if access("/proc/1", W_OK | X_OK) != 0 {
            let data = folder.appendingPathComponent("client-folder-data")
            let screenshots = data.appendingPathComponent("screenshots")
            try FileManager.default.createDirectory(at: screenshots, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(
                at: screenshots.appendingPathComponent("client_fine"), withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(
                atPath: screenshots.appendingPathComponent("client_restored").path, withDestinationPath: "/proc/1")
            var settings = environment
            settings["USERO_PORT"] = "0"
            settings["USERO_DATA_DIR"] = data.path
            let outcome = try await UseroBinary.run(["serve"], environment: settings)
            #expect(outcome.status == 78, "\(outcome.stderr)")
            #expect(
                outcome.stderr.contains("USERO_DATA_DIR: usero cannot create files in its screenshots/client_restored/ folder"),
                "\(outcome.stderr)")
        }
        // A missing one is made, and serve starts
        var settings = environment
        settings["USERO_DATA_DIR"] = folder.appendingPathComponent("new/nested/data").path
        try await UseroBinary.withServe(environment: settings) { _ in }
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("new/nested/data").path))
    }

    /// `--allowed-origin` values no browser could send as its `Origin` are refused, naming the option; a default
    /// port is dropped, so the entry matches what browsers send.
    @Test func allowedOriginsMustBeOriginsABrowserSends() async throws {
        for bad in ["*", "http://", "javascript:alert(1)", "https://app.example.com/path", "ftp://app.example.com"] {
            let outcome = try await UseroBinary.run(
                ["clients", "create", "--name", "A", "--allowed-origin", bad], environment: environment)
            #expect(outcome.status != 0, "\(bad)")
            #expect(outcome.stderr.contains("--allowed-origin"), "\(bad): \(outcome.stderr)")
        }
        let (id, _) = try await UseroBinary.createClient(
            name: "Ports",
            ["--allowed-origin", "https://App.Example.com:443", "--allowed-origin", "https://*.example.org",
             "--allowed-origin", "http://localhost:3000"],
            environment: environment)
        let shown = try await UseroBinary.run(["clients", "update", id, "--plan", "paid"], environment: environment)
        let client = try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
        #expect(
            client["allowedOrigins"] as? [String]
                == ["https://app.example.com", "https://*.example.org", "http://localhost:3000"])

        let statuses = try await UseroBinary.withServe(environment: environment) { port in
            var statuses: [String: Int] = [:]
            for origin in [
                "https://app.example.com", "https://eu.example.org", "http://localhost:3000", "http://eu.example.org",
                "https://app.example.com:8443",
            ] {
                statuses[origin] = try await HTTPResult.send(
                    "POST", "http://127.0.0.1:\(port)/api/feedback",
                    headers: ["Content-Type": "application/json", "Origin": origin],
                    body: Data(#"{"clientId":"\#(id)","rating":4}"#.utf8)
                ).status
            }
            return statuses
        }
        #expect(
            statuses == [
                "https://app.example.com": 200, "https://eu.example.org": 200, "http://localhost:3000": 200,
                "http://eu.example.org": 403, "https://app.example.com:8443": 403,
            ])
    }

    /// As a deployment with mounted secrets runs it: the database and the signing secret only in files, named by
    /// their `_FILE` variables. The commands and serve find the store, and Slack's signature is checked with the
    /// file's secret (its trailing newline not part of it); a missing file stops serve naming the variable.
    @Test func serveAndTheCommandsTakeTheirSecretsFromFiles() async throws {
        let secrets = folder.appendingPathComponent("secrets")
        try FileManager.default.createDirectory(at: secrets, withIntermediateDirectories: true)
        let databaseFile = secrets.appendingPathComponent("database")
        try Data((folder.appendingPathComponent("usero.sqlite").path + "\n").utf8).write(to: databaseFile)
        let signingFile = secrets.appendingPathComponent("signing-secret")
        try Data("file-held-signing-secret\n".utf8).write(to: signingFile)
        var settings = environment
        settings["USERO_DATABASE"] = nil
        settings["USERO_DATABASE_FILE"] = databaseFile.path
        settings["SLACK_SIGNING_SECRET_FILE"] = signingFile.path

        let (id, _) = try await UseroBinary.createClient(name: "Mounted", environment: settings)
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("usero.sqlite").path))
        try await UseroBinary.withServe(environment: settings) { port in
            let base = "http://127.0.0.1:\(port)"
            let stored = try await HTTPResult.send(
                "POST", base + "/api/feedback", headers: ["Content-Type": "application/json"],
                body: Data(#"{"clientId":"\#(id)","rating":4}"#.utf8))
            #expect(stored.status == 200)
            let body = Fixtures.data("url_verification.json")
            for (secret, status) in [("file-held-signing-secret", 200), ("file-held-signing-secret\n", 401)] {
                var headers = SlackTestSettings.headers(for: body, secret: secret)
                headers["Content-Type"] = "application/json"
                let answer = try await HTTPResult.send("POST", base + "/slack/events", headers: headers, body: body)
                #expect(answer.status == status, "\(secret.debugDescription)")
            }
        }

        settings["SLACK_SIGNING_SECRET_FILE"] = secrets.appendingPathComponent("not-mounted").path
        settings["USERO_PORT"] = "0"
        let refused = try await UseroBinary.run(["serve"], environment: settings)
        #expect(refused.status == 78)
        #expect(refused.stderr.contains("SLACK_SIGNING_SECRET_FILE names a file that does not exist or cannot be read"))
    }

    /// A database host that takes the connection and never answers (a firewall, a hung server) holds serve for the
    /// URL's `connect_timeout`, not the 10 s default, then stops it with the one line naming USERO_DATABASE.
    @Test func aDatabaseThatNeverAnswersStopsServeAfterTheURLsConnectTimeout() async throws {
        let (outcome, waited) = try await UseroBinary.withPortInUse { port in
            var settings = environment
            settings["USERO_DATABASE"] = "postgres://usero:pw@127.0.0.1:\(port)/usero?sslmode=disable&connect_timeout=1"
            settings["USERO_TOKEN_KEY"] = SlackTestSettings.tokenKey
            settings["USERO_PORT"] = "0"
            let started = ContinuousClock.now
            let outcome = try await UseroBinary.run(["serve"], environment: settings)
            return (outcome, ContinuousClock.now - started)
        }
        #expect(outcome.status == 78, "\(outcome.stderr)")
        #expect(waited < .seconds(8), "\(waited)")
        let lines = outcome.stderr.split(separator: "\n").filter { $0.contains("USERO_DATABASE") }
        #expect(lines.count == 1 && lines.first?.contains("timed out") == true, "\(outcome.stderr)")
        #expect(!outcome.stderr.contains(":pw@"))
    }
}

/// The edges of what the variables accept: a value the contract or the error message names as allowed starts, the
/// next one past it is refused naming the variable, and the defaults are the contract's.
extension StartupConfigTests {
    static func load(_ environment: [String: String], host: String? = nil, port: Int? = nil) throws -> AppConfig {
        try AppConfig.load(host: host, port: port, environment: environment)
    }

    /// Nothing set: the contract's defaults, so that `serve` and a command run in the same folder find one store,
    /// `data/usero.sqlite`, beside the files in `data`.
    @Test func withNothingSetTheStoreIsDataUseroSqliteAndItsFilesGoInData() throws {
        let config = try Self.load([:])
        #expect(config.postgres == nil)
        #expect(config.databasePath == "data/usero.sqlite")
        #expect(config.storeName == "SQLite data/usero.sqlite")
        #expect(config.dataDirectory == "data")
        #expect(config.host == "127.0.0.1" && config.port == 8080)
        #expect(config.publicURL == "http://127.0.0.1:8080")
        #expect(config.retentionInterval == .seconds(3600))
    }

    /// Every port a listener can have is accepted, 65535 included (0: a free one, chosen at start); one past either
    /// end stops startup, naming the variable or the option that set it.
    @Test func thePortIsAnyNumberFrom0To65535() throws {
        for port in [0, 1, 65535] {
            #expect(try Self.load(["USERO_PORT": "\(port)"]).port == port)
            #expect(try Self.load([:], port: port).port == port)
        }
        for bad in ["65536", "-1"] {
            let error = #expect(throws: AppConfig.Invalid.self, "\(bad)") { try Self.load(["USERO_PORT": bad]) }
            #expect(error?.description == "USERO_PORT must be a port number from 0 to 65535")
        }
        for bad in [65536, -1] {
            let error = #expect(throws: AppConfig.Invalid.self, "\(bad)") {
                try Self.load(["USERO_PORT": "8080"], port: bad)
            }
            #expect(error?.description == "--port must be a port number from 0 to 65535")
        }
    }

    /// A host that does not resolve is blamed on where it came from: `--host` when the flag gave it.
    @Test func aHostThatDoesNotResolveNamesTheFlagOrTheVariableThatGaveIt() throws {
        let flagged = #expect(throws: AppConfig.Invalid.self) {
            try Self.load(["USERO_HOST": "127.0.0.1"], host: "not_a_host.invalid")
        }
        #expect(flagged?.description.hasPrefix("--host must be an IP address") == true, "\(String(describing: flagged))")
        let variable = #expect(throws: AppConfig.Invalid.self) { try Self.load(["USERO_HOST": "not_a_host.invalid"]) }
        #expect(variable?.description.hasPrefix("USERO_HOST must be an IP address") == true)
    }

    /// The bounds the errors name are accepted: a sweep once a day (the longest), and a database wait of 0 ("no
    /// wait"); one past the day is refused.
    @Test func theSweepIntervalAndTheDatabaseWaitAcceptTheBoundsTheirErrorsName() throws {
        #expect(try Self.load(["USERO_RETENTION_INTERVAL_SECONDS": "86400"]).retentionInterval == .seconds(86_400))
        #expect(try Self.load(["USERO_RETENTION_INTERVAL_SECONDS": "1"]).retentionInterval == .seconds(1))
        let error = #expect(throws: AppConfig.Invalid.self) {
            try Self.load(["USERO_RETENTION_INTERVAL_SECONDS": "86401"])
        }
        #expect(error?.description == "USERO_RETENTION_INTERVAL_SECONDS must be a whole number of seconds from 1 to 86400 (a day)")
        #expect(try Self.load(["USERO_DATABASE_WAIT_SECONDS": "0"]).databaseWait == .zero)
    }

    /// `SLACK_RESPONSE_URL_PREFIXES` holding no prefix at all (`,`) would leave no `response_url` the service may
    /// call: every answer to a slash command or shortcut dropped without a word. It stops startup instead.
    @Test func responseURLPrefixesWithNoPrefixInThemAreRefused() throws {
        for empty in [",", " , ,"] {
            let error = #expect(throws: AppConfig.Invalid.self, "\(empty)") {
                try Self.load(["SLACK_RESPONSE_URL_PREFIXES": empty])
            }
            #expect(error?.description.hasPrefix("SLACK_RESPONSE_URL_PREFIXES must be") == true)
        }
        let two = try Self.load(["SLACK_RESPONSE_URL_PREFIXES": "https://hooks.slack.com/, http://127.0.0.1:9999/,"])
        #expect(two.slackResponseURLPrefixes == ["https://hooks.slack.com/", "http://127.0.0.1:9999/"])
    }

    /// `USERO_UPLOAD_QUOTA_MB` is megabytes, as its name says.
    @Test func theUploadQuotaIsReadInMegabytes() throws {
        #expect(try Self.load(["USERO_UPLOAD_QUOTA_MB": "3"]).uploadQuotaBytes == 3 * 1024 * 1024)
    }

    /// A token key is exactly 32 bytes: a longer one (`head -c 64 /dev/urandom | base64`) is refused as a shorter one
    /// is, naming the variable and the length, never the key.
    @Test func aTokenKeyLongerThan32BytesIsRefusedNamingTheVariable() throws {
        let long = Data((0..<64).map { UInt8($0) }).base64EncodedString()
        for variable in ["USERO_TOKEN_KEY", "USERO_PREVIOUS_TOKEN_KEYS"] {
            let error = #expect(throws: AppConfig.Invalid.self, "\(variable)") { try Self.load([variable: long]) }
            #expect(error?.description == "\(variable) must be base64 of exactly 32 random bytes (it decodes to 64)")
            #expect(error?.description.contains(long) == false)
        }
    }

    /// A secret variable an env file leaves blank (`SLACK_SIGNING_SECRET= `) beside its `_FILE` is unset, not a
    /// second value: the file's secret is used.
    @Test func aBlankSecretVariableBesideItsFileVariableLeavesTheFileInCharge() throws {
        let file = TestServer.makeFolder().appendingPathComponent("signing")
        try Data("from-the-file\n".utf8).write(to: file)
        for blank in ["", " ", "\n"] {
            let config = try Self.load(["SLACK_SIGNING_SECRET": blank, "SLACK_SIGNING_SECRET_FILE": file.path])
            #expect(config.slackSigningSecret?.value == "from-the-file", "\(blank.debugDescription)")
        }
    }
}

extension StartupConfigTests {
    /// `USERO_PUBLIC_URL` written with a trailing slash (as a browser's address bar shows it) is the same base: the
    /// screenshot URLs and the Slack redirect made from it have no `//` in them.
    @Test func aPublicURLWithTrailingSlashesIsTheSameBase() throws {
        #expect(try Self.load(["USERO_PUBLIC_URL": "https://feedback.example.com/"]).publicURL == "https://feedback.example.com")
        #expect(try Self.load(["USERO_PUBLIC_URL": "https://example.com/usero//"]).publicURL == "https://example.com/usero")
    }

    /// A secret file as large as the limit the error names (64 KB) is still read; one byte more is refused.
    @Test func aSecretFileOfExactly64KBIsRead() throws {
        let file = TestServer.makeFolder().appendingPathComponent("client-secret")
        try Data(repeating: UInt8(ascii: "s"), count: AppConfig.maxSecretFileBytes).write(to: file)
        let config = try Self.load(["SLACK_CLIENT_SECRET_FILE": file.path])
        #expect(config.slackClientSecret?.value.utf8.count == AppConfig.maxSecretFileBytes)
    }
}
