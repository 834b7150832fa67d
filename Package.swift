// swift-tools-version: 6.0
import PackageDescription

// One list for every target: `any` spelled out for existentials keeps dynamic dispatch visible; a file uses only
// the modules it imports itself; imports are internal unless a public declaration needs the module (which keeps
// OpenSSL's and GRDB's types out of the modules' public faces unless they are meant to be there).
let settings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "usero",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "usero", targets: ["usero"]),
        // The benchmarks' floor: a bare Hummingbird app with usero's server configuration (scripts/bench-floor.sh).
        .executable(name: "usero-floor", targets: ["UseroFloor"]),
        // Outbound Slack call latency, the live client beside URLSession (scripts/bench-slack-latency.sh).
        .executable(name: "usero-bench-slack-client", targets: ["UseroSlackClientBench"]),
        .executable(name: "usero-bench", targets: ["UseroBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // NIOSSL only for the TLS settings of `sslmode=prefer|require` (postgres-nio already depends on it).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.25.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
    ],
    targets: [
        // libcrypto from the system (Debian's libssl-dev): AES-256-GCM, HMAC-SHA256, SHA-256, RAND.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // The folder is Sources/Crypto; the module is UseroCrypto because swift-crypto (in Hummingbird's graph)
        // already owns the target name "Crypto", and SwiftPM wants target names unique across the graph.
        .target(
            name: "UseroCrypto",
            dependencies: ["COpenSSL"],
            path: "Sources/Crypto",
            swiftSettings: settings
        ),
        // The modules: each declares, as protocols, what it needs stored; none of them sees a table.
        .target(
            name: "Feedback",
            dependencies: [
                "UseroCrypto",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "SlackGateway",
            dependencies: [
                "UseroCrypto",
                "Feedback",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // Outbound Slack calls (see HTTPSlackWebAPI and BENCHMARKS.md for why not URLSession).
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "Retention",
            dependencies: [
                "Feedback",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings
        ),
        // The PostgreSQL adapter (USERO_DATABASE=postgres://...): connection settings, migrations under an advisory
        // lock, and the group-commit writer. A sibling of the SQLite adapter; postgres-nio's pool, no ORM.
        .target(
            name: "StorePostgres",
            dependencies: [
                "Feedback", "SlackGateway", "Retention", "Inbox",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        // scripts/bench-postgres-writer.sh: the PostgreSQL group-commit writer against pgbench on the same cluster.
        .executableTarget(
            name: "usero-bench-postgres",
            dependencies: [
                "StorePostgres", "SlackGateway", "Feedback",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/PostgresBench",
            swiftSettings: settings
        ),
        // The inbox and the widget: pages for people, over the Feedback store and what the executable injects.
        .target(
            name: "Inbox",
            dependencies: [
                "Feedback", "UseroCrypto",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            swiftSettings: settings
        ),
        // The embedded backend: every module's store protocol over one SQLite file; all of its SQL lives here.
        .target(
            name: "StoreSQLite",
            dependencies: [
                "Feedback", "SlackGateway", "Retention", "Inbox",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "usero",
            dependencies: [
                "UseroCrypto", "Feedback", "SlackGateway", "Retention", "Inbox", "StoreSQLite", "StorePostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "UseroFloor",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        // Kept apart from `usero` so the service never links FoundationNetworking (libcurl and its dependencies).
        .executableTarget(
            name: "UseroSlackClientBench",
            dependencies: ["SlackGateway"],
            swiftSettings: settings
        ),
        // Benchmark commands, kept out of the `usero` product: the durable-commit baseline, the uninstall scrub
        // timing, and seeding for the retention benchmark.
        .executableTarget(
            name: "UseroBench",
            dependencies: [
                "Feedback", "SlackGateway", "Retention", "StoreSQLite", "UseroCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        // One test clock, one in-memory fake of every store protocol, one fake Slack Web API: shared by the suites.
        .target(
            name: "UseroTestSupport",
            dependencies: [
                "Feedback", "SlackGateway", "Retention", "Inbox", "UseroCrypto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/Support",
            swiftSettings: settings
        ),
        .testTarget(name: "CryptoTests", dependencies: ["UseroCrypto", "UseroTestSupport"], swiftSettings: settings),
        .testTarget(
            name: "FeedbackTests",
            dependencies: [
                "Feedback", "StoreSQLite", "UseroTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        .testTarget(
            name: "SlackGatewayTests",
            dependencies: [
                "SlackGateway", "Feedback", "Retention", "UseroCrypto", "UseroTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: settings
        ),
        .testTarget(
            name: "RetentionTests",
            dependencies: [
                "Retention", "Feedback", "SlackGateway", "StoreSQLite", "UseroTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings
        ),
        // Needs a PostgreSQL server: USERO_TEST_POSTGRES_URL (scripts/test.sh starts one with scripts/pg-cluster.sh).
        .testTarget(
            name: "StorePostgresTests",
            dependencies: [
                "StorePostgres", "StoreSQLite", "Feedback", "Retention", "SlackGateway", "UseroTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings
        ),
        // One suite of the store protocols' contracts, run against every backend (SQLite, the in-memory fake, and
        // the backends still to come): a backend joins by adding its factory to `StoreFactories.all`.
        .testTarget(
            name: "StoreConformanceTests",
            dependencies: [
                "Feedback", "SlackGateway", "Retention", "StoreSQLite", "StorePostgres", "UseroTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: settings
        ),
        .testTarget(
            name: "AppTests",
            dependencies: [
                "usero", "Feedback", "SlackGateway", "Retention", "UseroCrypto", "Inbox", "StoreSQLite",
                "StorePostgres", "UseroTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: settings
        ),
    ]
)
