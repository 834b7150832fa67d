import PostgresNIO
import StorePostgres
import Testing

/// The group-commit writer on a real server: shared commits, failures kept to their own piece, durability.
@Suite(.enabled(if: TestPostgres.isAvailable, TestPostgres.skipReason))
struct PostgresWriterTests {
    static let table = PostgresMigration("v99-test-table", ["CREATE TABLE item (id INTEGER PRIMARY KEY, note TEXT)"])

    /// A fresh database with the test table only.
    func withDatabase(lanes: Int = 4, _ body: (PostgresBackend, PostgresSettings) async throws -> Void) async throws {
        try await TestPostgres.withFreshDatabase { settings in
            var options = PostgresBackend.Options()
            options.migrations = [Self.table]
            options.writerLanes = lanes
            let database = try await PostgresBackend.open(settings, options: options, logger: TestPostgres.logger)
            do {
                try await body(database, settings)
                await database.close()
            } catch {
                await database.close()
                throw error
            }
        }
    }

    func count(_ database: PostgresBackend) async throws -> Int? {
        try await database.withConnection { connection in
            try await TestPostgres.scalar("SELECT count(*) FROM item", as: Int.self, on: connection)
        }
    }

    @Test func concurrentWritesShareCommits() async throws {
        try await withDatabase { database, _ in
            let before = database.commitStatistics
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<400 {
                    group.addTask {
                        _ = try await database.write { transaction in
                            try await transaction.execute("INSERT INTO item (id) VALUES (\(index))")
                        }
                    }
                }
                try await group.waitForAll()
            }
            let after = database.commitStatistics
            #expect(after.writes - before.writes == 400)
            // Waiting writes ride along in one transaction: fewer commits than writes.
            #expect(after.commits - before.commits < 400)
            #expect(after.largestBatch > 1)
            #expect(try await count(database) == 400)
        }
    }

    @Test func aFailingPieceDoesNotTakeItsNeighboursDown() async throws {
        try await withDatabase(lanes: 1) { database, _ in
            enum Refused: Error { case byTheService }
            // Every 10th piece inserts its row and then fails on the server; every 7th inserts and then throws in
            // Swift; every 13th repeats an id an earlier piece (maybe in the same batch) already used. Their rows must
            // not appear; everyone else's must.
            let outcomes = await withTaskGroup(of: (Int, Bool).self) { group -> [Int: Bool] in
                for index in 1...300 {
                    group.addTask {
                        do {
                            try await database.write { transaction in
                                let id = index % 13 == 0 ? index - 1 : index
                                try await transaction.execute("INSERT INTO item (id) VALUES (\(id))")
                                if index % 10 == 0 {
                                    try await transaction.execute("INSERT INTO no_such_table VALUES (1)")
                                }
                                if index % 7 == 0 { throw Refused.byTheService }
                            }
                            return (index, true)
                        } catch {
                            return (index, false)
                        }
                    }
                }
                return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            let stored = try await database.withConnection { connection in
                try await TestPostgres.all("SELECT id FROM item", as: Int.self, on: connection)
            }
            let failedOnPurpose = (1...300).filter { $0 % 10 == 0 || $0 % 7 == 0 }
            for index in failedOnPurpose { #expect(outcomes[index] == false, "piece \(index) should have failed") }
            // The stored rows are exactly those of the acknowledged pieces: nothing of a failed piece, nothing lost.
            let acknowledged = outcomes.filter(\.value).map(\.key)
            let expected = acknowledged.map { $0 % 13 == 0 ? $0 - 1 : $0 }
            #expect(stored.sorted() == expected.sorted())
            // Two pieces writing the same id, in whatever order they ran: exactly one of them is acknowledged,
            // unless the other one failed on purpose anyway.
            for index in (1...300) where index % 13 == 0 && index % 10 != 0 && index % 7 != 0 {
                let earlierFailsAnyway = (index - 1) % 10 == 0 || (index - 1) % 7 == 0
                if earlierFailsAnyway {
                    #expect(outcomes[index] == true)
                } else {
                    #expect(outcomes[index] != outcomes[index - 1], "pieces \(index - 1) and \(index) share an id")
                }
            }
            #expect(database.commitStatistics.retries > 0)
        }
    }

    @Test func aPieceThatSwallowsAServerErrorIsNotAcknowledged() async throws {
        try await withDatabase(lanes: 1) { database, _ in
            await #expect(throws: PostgresWriterError.self) {
                try await database.write { transaction in
                    try await transaction.execute("INSERT INTO item (id) VALUES (1)")
                    _ = try? await transaction.execute("INSERT INTO no_such_table VALUES (1)")
                }
            }
            #expect(try await count(database) == 0)
            // The connection is usable again.
            try await database.write { transaction in try await transaction.execute("INSERT INTO item (id) VALUES (2)") }
            #expect(try await count(database) == 1)
        }
    }

    @Test func writerSessionsCommitSynchronouslyEvenWhenTheDatabaseDefaultIsOff() async throws {
        try await TestPostgres.withFreshDatabase { settings in
            try await TestPostgres.run("ALTER DATABASE \(settings.database) SET synchronous_commit = off", on: settings)
            var options = PostgresBackend.Options()
            options.migrations = [Self.table]
            let database = try await PostgresBackend.open(settings, options: options, logger: TestPostgres.logger)
            let mode = try await database.write { transaction in
                try await TestPostgres.scalar("SHOW synchronous_commit", as: String.self, on: transaction.connection)
            }
            #expect(mode == "on")
            let fsync = try await database.withConnection { connection in
                try await TestPostgres.scalar("SHOW fsync", as: String.self, on: connection)
            }
            #expect(fsync == "on")
            await database.close()
        }
    }

    /// Writers keep inserting while the server is stopped in immediate mode (no checkpoint: the WAL on disk is all
    /// there is) and started again. Every id that was acknowledged must be there afterwards.
    @Test(.timeLimit(.minutes(3)))
    func acknowledgedRowsSurviveAnImmediateShutdown() async throws {
        let cluster = try PrivateCluster.start()
        defer { cluster.stop() }
        var options = PostgresBackend.Options()
        options.migrations = [Self.table]
        let database = try await PostgresBackend.open(cluster.settings, options: options, logger: TestPostgres.logger)
        // Pull the plug in the middle of the stream, start again, and let writes resume on the restarted server.
        let (acked, inFlightAtCrash) = try await cluster.writeThroughAnImmediateShutdown(milestone: 1500) {
            writer, attempt in
            let row = writer + 32 * attempt
            try await database.write { transaction in
                try await transaction.execute("INSERT INTO item (id) VALUES (\(row))")
            }
            return row
        }
        await database.close()
        #expect(inFlightAtCrash > 0)

        let stored = try await TestPostgres.withConnection(to: cluster.settings) { connection in
            let ids: [Int] = try await TestPostgres.all("SELECT id FROM item", as: Int.self, on: connection)
            return Set(ids)
        }
        let lost = acked.filter { !stored.contains($0) }
        #expect(lost.isEmpty, "acknowledged rows lost after an immediate shutdown: \(lost.prefix(20))")
        #expect(stored.count >= acked.count)
    }
}
