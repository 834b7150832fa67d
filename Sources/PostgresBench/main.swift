// usero-bench-postgres: drives the PostgreSQL group-commit writer for scripts/bench-postgres-writer.sh.
//
//   usero-bench-postgres writer URL SECONDS CONCURRENCY LANES
//
// CONCURRENCY tasks each insert one row per durable write (synchronous_commit=on) into bench_row, for SECONDS;
// prints rows per second, commits, and the mean batch. The script compares it with pgbench on the same table.
import Foundation
import Logging
import PostgresNIO
import StorePostgres
import Synchronization

let arguments = CommandLine.arguments
guard arguments.count == 6, arguments[1] == "writer", let seconds = Int(arguments[3]), (1...600).contains(seconds),
    let concurrency = Int(arguments[4]), (1...4096).contains(concurrency), let lanes = Int(arguments[5]),
    (1...64).contains(lanes)
else {
    print("usage: usero-bench-postgres writer URL SECONDS(1-600) CONCURRENCY(1-4096) LANES(1-64)")
    exit(64)
}

let logger = Logger(label: "usero.bench.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
let settings: PostgresSettings
do {
    settings = try PostgresSettings(url: arguments[2], variable: "URL")
} catch {
    print(error)
    exit(64)
}
var options = PostgresBackend.Options()
options.writerLanes = lanes
options.maximumConnections = lanes + 2
// The table is made by the script (pgbench writes to it too); no migrations here.
options.migrations = []
let database: PostgresBackend
do {
    database = try await PostgresBackend.open(settings, options: options, logger: logger)
} catch {
    print(error)
    exit(69)
}

let written = Atomic<Int>(0)
let failed = Atomic<Int>(0)
let clock = ContinuousClock()
let deadline = clock.now.advanced(by: .seconds(seconds))
let started = clock.now
await withTaskGroup(of: Void.self) { group in
    for client in 0..<concurrency {
        group.addTask {
            while clock.now < deadline {
                do {
                    try await database.write { transaction in
                        try await transaction.execute(
                            """
                            INSERT INTO bench_row (client, note, created_at)
                            VALUES (\(client), 'Export to CSV times out on large projects', \(Int64(1_700_000_000_000)))
                            """)
                    }
                    written.add(1, ordering: .relaxed)
                } catch {
                    failed.add(1, ordering: .relaxed)
                }
            }
        }
    }
}
let elapsed = started.duration(to: clock.now)
let elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
let statistics = database.commitStatistics
await database.close()
let rows = written.load(ordering: .relaxed)
let rate = Double(rows) / elapsedSeconds
let meanBatch = statistics.commits > 0 ? Double(statistics.writes) / Double(statistics.commits) : 0
print(
    "writer_rows_per_second=\(Int(rate.rounded())) rows=\(rows) failed=\(failed.load(ordering: .relaxed)) "
        + "commits=\(statistics.commits) mean_batch=\((meanBatch * 10).rounded() / 10) lanes=\(lanes) "
        + "concurrency=\(concurrency)")
