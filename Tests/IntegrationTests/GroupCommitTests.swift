import Foundation
import PostgresNIO
import SharedEvents
import SharedPostgres
import SharedResilience
import SharedService
import TestSupport
import Testing
@testable import Master

/// The group commit of `POST /create` against the real Postgres, through the master's own
/// repository and writer: mixed groups, a flush whose statement fails, and a caller that goes
/// away while it waits. Whatever happens, a link is written with its outbox row, or not at all.
@Suite struct GroupCommitTests {
    private func withMaster(_ body: @Sendable (MasterApplication) async throws -> Void) async throws {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        try await withRunningServices(master.backgroundServices) { try await body(master) }
    }

    private func link(_ url: String, alias: String? = nil) -> NewLink {
        NewLink(url: url, alias: alias, expiresAt: nil, maxClicks: nil, tags: [])
    }

    private func key(_ key: String, _ request: String) -> IdempotencyKey {
        .init(scope: "test", key: key, requestHash: Array(request.utf8))
    }

    /// Links with `url` and their outbox rows.
    private func stored(_ url: String, in client: PostgresClient) async throws -> (links: Int, events: Int) {
        let rows = try await client.query(
            """
            SELECT (SELECT count(*)::int FROM links WHERE url = \(url)),
                (SELECT count(*)::int FROM outbox o JOIN links l ON o.message_key = l.code WHERE l.url = \(url) AND o.topic = 'links')
            """, logger: TestStack.logger)
        for try await pair in rows.decode((Int, Int).self) { return pair }
        return (0, 0)
    }

    @Test func aMixedGroupGivesEachCreateItsOwnOutcome() async throws {
        try await withMaster { master in
            let repository = master.repository
            let taken = "gc-taken-\(UInt32.random(in: 0...UInt32.max))"
            let twice = "gc-twice-\(UInt32.random(in: 0...UInt32.max))"
            _ = try await repository.create(link("https://example.com/first", alias: taken))
            let stored = key("stored-\(UUID())", "r0")
            let earlier = try await repository.create(link("https://example.com/stored"), idempotency: stored)
            let repeated = "repeated-\(UUID())"

            let results = await repository.createGroup(
                [
                    .init(link: link("https://example.com/plain"), idempotency: nil),
                    .init(link: link("https://example.com/taken", alias: taken), idempotency: nil),
                    .init(link: link("https://example.com/twice-a", alias: twice), idempotency: nil),
                    .init(link: link("https://example.com/twice-b", alias: twice), idempotency: nil),
                    .init(link: link("https://example.com/repeated"), idempotency: key(repeated, "r1")),
                    .init(link: link("https://example.com/repeated"), idempotency: key(repeated, "r1")),
                    .init(link: link("https://example.com/other"), idempotency: key(repeated, "r2")),
                    .init(link: link("https://example.com/stored"), idempotency: stored),
                    .init(link: link("https://example.com/stored-other"), idempotency: key(stored.key, "changed")),
                ], on: master.createWriter.connection)
            func code(_ index: Int) -> String? { try? results[index].get().code }
            func apiError(_ index: Int) -> String? {
                guard case .failure(let error) = results[index] else { return nil }
                return (error as? APIError)?.code
            }
            #expect(code(0) != nil)
            #expect(apiError(1) == "alias_taken")
            #expect(code(2) == twice && apiError(3) == "alias_taken")
            let first = try results[4].get()
            let again = try results[5].get()
            #expect(!first.replayed && again.replayed && again.code == first.code)
            #expect(apiError(6) == "idempotency_key_reused")
            #expect(try results[7].get() == .init(address: earlier.address, replayed: true))
            #expect(apiError(8) == "idempotency_key_reused")

            // Each written link has exactly its outbox row; nothing else was written.
            for url in ["plain", "twice-a", "repeated"] {
                let found = try await self.stored("https://example.com/\(url)", in: master.postgres)
                #expect(found == (1, 1), "\(url): \(found)")
            }
            for url in ["taken", "twice-b", "other", "stored-other"] {
                #expect(try await self.stored("https://example.com/\(url)", in: master.postgres) == (0, 0), "\(url)")
            }
            // A replay of the group's own key later finds it.
            let replay = try await repository.create(
                link("https://example.com/repeated"), idempotency: key(repeated, "r1"))
            #expect(replay == .init(address: first.address, replayed: true))
        }
    }

    @Test func concurrentCreatesShareFlushesAndEachGetsItsLinkAndItsEventInOrder() async throws {
        try await withMaster { master in
            let writer = CreateGroupCommit(
                repository: master.repository, connection: master.createWriter.connection, maximumBatch: 16)
            let marker = UUID().uuidString
            let codes = try await withRunningServices([writer]) {
                try await withThrowingTaskGroup(of: (Int, String).self) { group in
                    for index in 0..<200 {
                        group.addTask {
                            (
                                index,
                                try await writer.create(
                                    self.link("https://example.com/\(marker)/\(index)"), idempotency: nil
                                ).code
                            )
                        }
                    }
                    return try await group.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
                }
            }
            #expect(Set(codes.values).count == 200)
            let rows = try await master.postgres.query(
                """
                SELECT code, url FROM links WHERE url LIKE \("https://example.com/\(marker)/%")
                ORDER BY created_at, code
                """, logger: TestStack.logger)
            var urls: [String: String] = [:]
            var created: [String] = []
            for try await (code, url) in rows.decode((String, String).self) {
                urls[code] = url
                created.append(code)
            }
            for (index, code) in codes { #expect(urls[code] == "https://example.com/\(marker)/\(index)") }
            // The outbox holds exactly one link.created per link, its own, queued in the order
            // the links were created: what the relay publishes is what was written, in order.
            let events = try await master.postgres.query(
                """
                SELECT o.message_key, o.payload FROM outbox o JOIN links l ON o.message_key = l.code AND o.topic = 'links'
                WHERE l.url LIKE \("https://example.com/\(marker)/%") ORDER BY o.id
                """, logger: TestStack.logger)
            var queued: [String] = []
            for try await (key, payload) in events.decode((String, ByteBuffer).self) {
                let event = try EventCodec.decodeLinkEvent(Array(buffer: payload))
                #expect(event.code == key && event.type == .created && event.url == urls[key], "\(key)")
                queued.append(key)
            }
            #expect(queued == created)
        }
    }

    /// Whether a statement of the namespace's database waits for a lock: the writer's flush,
    /// blocked by ``withLinksLocked(_:_:)``.
    private func flushWaitsForTheLock(in client: PostgresClient) async throws -> Bool {
        let rows = try await client.query(
            """
            SELECT count(*)::int FROM pg_stat_activity
            WHERE wait_event_type = 'Lock' AND datname = current_database()
            """, logger: TestStack.logger)
        for try await count in rows.decode(Int.self) { return count > 0 }
        return false
    }

    /// Holds the links table's write lock in a transaction of its own until `body` returns.
    private func withLinksLocked<Value: Sendable>(
        _ client: PostgresClient, _ body: @Sendable () async throws -> Value
    ) async throws -> Value {
        try await client.withTransaction(logger: TestStack.logger) { connection in
            try await connection.query("LOCK TABLE links IN SHARE ROW EXCLUSIVE MODE", logger: TestStack.logger)
            return try await body()
        }
    }

    @Test func aCallerThatGoesAwayWhileWaitingLeavesNothingBehind() async throws {
        try await withMaster { master in
            let writer = master.createWriter
            let marker = UUID().uuidString
            let tasks = try await withLinksLocked(master.postgres) {
                // The first create's flush is blocked on the lock; the second waits in the queue.
                let flushing = Task {
                    try await writer.create(self.link("https://example.com/\(marker)/flushing"), idempotency: nil)
                }
                let blocked = try await eventually { try await self.flushWaitsForTheLock(in: master.postgres) }
                #expect(blocked, "the flush never waited for the lock")
                let waiting = Task {
                    try await writer.create(self.link("https://example.com/\(marker)/waiting"), idempotency: nil)
                }
                #expect(await eventually { writer.queued == 1 })
                waiting.cancel()
                await #expect(throws: CancellationError.self) { try await waiting.value }
                return flushing
            }
            let created = try await tasks.value
            #expect(!created.replayed)
            #expect(try await stored("https://example.com/\(marker)/flushing", in: master.postgres) == (1, 1))
            #expect(try await stored("https://example.com/\(marker)/waiting", in: master.postgres) == (0, 0))
        }
    }

    @Test func aCallerCancelledBeforeItsCreateIsQueuedWritesNothing() async throws {
        try await withMaster { master in
            let writer = master.createWriter
            let marker = UUID().uuidString
            // Cancelled before it calls create: the cancellation handler runs before the
            // operation, finds nothing queued, and the create must still never be queued.
            let (gate, opened) = AsyncStream<Void>.makeStream()
            let cancelled = Task {
                for await _ in gate {}
                return try await writer.create(self.link("https://example.com/\(marker)/cancelled"), idempotency: nil)
            }
            cancelled.cancel()
            opened.finish()
            await #expect(throws: CancellationError.self) { try await cancelled.value }
            // A create after it is flushed (and so would be any queued before it).
            _ = try await writer.create(self.link("https://example.com/\(marker)/after"), idempotency: nil)
            #expect(try await stored("https://example.com/\(marker)/after", in: master.postgres) == (1, 1))
            #expect(try await stored("https://example.com/\(marker)/cancelled", in: master.postgres) == (0, 0))
        }
    }

    @Test func aFlushWhoseStatementFailsFailsItsCreatesAndWritesNoneOfThem() async throws {
        try await withMaster { master in
            let writer = master.createWriter
            let marker = UUID().uuidString
            let tasks = try await withLinksLocked(master.postgres) {
                let tasks = (0..<40).map { index in
                    Task {
                        await Result(catching: {
                            try await writer.create(
                                self.link("https://example.com/\(marker)/\(index)"), idempotency: nil
                            )
                            .code
                        })
                    }
                }
                let blocked = try await eventually { try await self.flushWaitsForTheLock(in: master.postgres) }
                #expect(blocked, "the flush never waited for the lock")
                // The blocked flush's connection dies, as in a Postgres outage.
                _ = try await master.postgres.query(
                    """
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE wait_event_type = 'Lock' AND datname = current_database()
                    """, logger: TestStack.logger
                ).decode(Bool.self).collectAll()
                return tasks
            }
            var results: [Int: Result<String, any Error>] = [:]
            for (index, task) in tasks.enumerated() { results[index] = await task.value }
            var failed = 0
            for (index, result) in results {
                let written = try await stored("https://example.com/\(marker)/\(index)", in: master.postgres)
                switch result {
                case .success: #expect(written == (1, 1), "\(index) answered created")
                case .failure(let error):
                    failed += 1
                    #expect(error.postgresSQLState == "57P01", "\(index): \(String(reflecting: error))")
                    #expect(written == (0, 0), "\(index) answered an error")
                }
            }
            #expect(failed > 0, "the terminated flush failed no create")
            // The writer goes on: the next create is written.
            let after = try await writer.create(self.link("https://example.com/\(marker)/after"), idempotency: nil)
            #expect(!after.replayed)
            #expect(try await stored("https://example.com/\(marker)/after", in: master.postgres) == (1, 1))
        }
    }

    @Test func theWritersConnectionIsItsOwnOpensAtStartAndClosesWhenTheMasterStops() async throws {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        let database = try TestStack.postgresConfiguration(database: "postgres")
        try await PostgresClient.withRunning(database, logger: TestStack.logger) { observer in
            /// The namespace's connections: the writer's, and all of them.
            func backends() async throws -> (writer: Int, all: Int) {
                let rows = try await observer.query(
                    """
                    SELECT count(*) FILTER (WHERE application_name = \(WriterConnection.applicationName))::int,
                        count(*)::int
                    FROM pg_stat_activity WHERE datname = \(namespace.databaseName)
                    """, logger: TestStack.logger)
                for try await counts in rows.decode((Int, Int).self) { return counts }
                return (0, 0)
            }
            try await withRunningServices(master.backgroundServices) {
                // At once: the first flush finds the connect of the start under way and waits for it.
                _ = try await master.createWriter.create(
                    link("https://example.com/own-connection/first"), idempotency: nil)
                #expect(
                    master.createWriter.connection.connectionsOpened == 1,
                    "the start and the first flush share a connect")
                #expect(
                    try await eventually { try await backends().writer == 1 },
                    "opened at start, so that the first create does not wait for the connect")
                for index in 0..<3 {
                    _ = try await master.createWriter.create(
                        link("https://example.com/own-connection/\(index)"), idempotency: nil)
                    #expect(try await backends().writer == 1, "create \(index): one connection of its own, kept")
                }
            }
            var left = try await backends().all
            for _ in 0..<100 where left > 0 {
                try await Task.sleep(for: .milliseconds(100))
                left = try await backends().all
            }
            #expect(left == 0, "connections left open after the master stopped")
        }
    }

    @Test func aStatementOutlastingTheTimeoutIsEndedByClosingTheWritersConnection() async throws {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        try await withRunningServices(master.backgroundServices) {
            let writer = master.createWriter.connection
            let started = ContinuousClock.now
            await #expect(throws: TimeoutError.self) {
                try await writer.run(within: .milliseconds(300)) { connection in
                    try await connection.query("SELECT pg_sleep(10)", logger: TestStack.logger).collectAll()
                }
            }
            #expect(ContinuousClock.now - started < .seconds(3), "the timeout ended the statement")
            // The next call opens a new connection and works.
            let answer = try await writer.run(within: .seconds(5)) { connection in
                try await connection.query("SELECT 7", logger: TestStack.logger).collectAll().first?.decode(Int.self)
            }
            #expect(answer == 7)
            _ = try await master.createWriter.create(link("https://example.com/after-timeout"), idempotency: nil)
        }
    }
}

extension AsyncSequence {
    /// Every element.
    fileprivate func collectAll() async throws -> [Element] {
        var elements: [Element] = []
        for try await element in self { elements.append(element) }
        return elements
    }
}
