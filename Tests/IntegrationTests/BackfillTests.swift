import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import SharedEvents
import TestSupport
import Testing
@testable import Master

/// `master backfill` against the real Postgres: every link announced again, with its revision.
@Suite struct BackfillTests {
    /// The link events waiting in the outbox (a backfill announces the domains first, apart).
    private func pendingEvents(_ client: PostgresClient) async throws -> [LinkEvent] {
        let rows = try await client.query(
            "SELECT payload FROM outbox WHERE topic = 'links' AND published_at IS NULL AND message_key NOT LIKE '@%' ORDER BY id",
            logger: TestStack.logger)
        var events: [LinkEvent] = []
        for try await payload in rows.decode(ByteBuffer.self) {
            events.append(try EventCodec.decodeLinkEvent(Array(buffer: payload)))
        }
        return events
    }

    /// Runs `body` with a fresh namespace's database holding `count` links made by the master's
    /// own repository; hands it their codes, in creation order.
    private func withLinks(
        _ count: Int, _ body: (PostgresClient, PostgresLinkRepository, [String]) async throws -> Void
    ) async throws {
        let namespace = try await TestStack.makeNamespace()
        let client = PostgresClient(
            configuration: try TestStack.postgresConfiguration(database: namespace.databaseName))
        // Deletes wait for the backfill's batch locks by design.
        let repository = PostgresLinkRepository(
            client: client, breaker: TestStack.patientPostgresBreaker(), logger: TestStack.logger)
        try await withRunningServices([client]) {
            var codes: [String] = []
            for index in 0..<count {
                codes.append(
                    try await repository.create(try LinkRequest(url: "https://e.com/\(index)").validated()).code)
            }
            try await body(client, repository, codes)
        }
    }

    @Test func queuesEveryLinkWithItsRevisionInBatchesAndCanRunTwice() async throws {
        try await withLinks(5) { client, repository, codes in
            let deleted = codes[2]
            #expect(try await repository.delete(deleted) == .deleted)
            // As if everything had been published long ago, to a topic that was then lost.
            try await client.query("UPDATE outbox SET published_at = now()", logger: TestStack.logger)

            let backfill = LinkBackfill(client: client, batchSize: 2, logger: TestStack.logger)
            let reports = NIOLockedValueBox<[String]>([])
            let queued = try await backfill.run { done, total in
                reports.withLockedValue { $0.append("\(done)/\(total)") }
            }
            #expect(queued == 5)
            #expect(reports.withLockedValue { $0 } == ["2/5", "4/5", "5/5"])
            let events = try await pendingEvents(client)
            #expect(events.map(\.code) == codes.sorted())
            // The default domain is announced before them, so that a rebuilt replica has its fallbacks.
            var domainKeys: [String] = []
            for try await key in try await client.query(
                "SELECT message_key FROM outbox WHERE topic = 'links' AND message_key LIKE '@%' ORDER BY id",
                logger: TestStack.logger
            ).decode(String.self) { domainKeys.append(key) }
            #expect(domainKeys == ["@"])
            for event in events {
                if event.code == deleted {
                    #expect(event.type == .deleted && event.revision == 2)
                } else {
                    #expect(event.type == .created && event.revision == 1 && event.url != nil)
                }
            }

            // A second run queues the same events again: consumers ignore them by revision.
            #expect(try await backfill.run { _, _ in } == 5)
            let twice = try await pendingEvents(client)
            #expect(twice.count == 10)
            #expect(twice.suffix(5).map(\.revision) == events.map(\.revision))
        }
    }

    @Test func aBackfillRacingDeletesNeverQueuesAStaleEventAfterANewerOne() async throws {
        try await withLinks(400) { client, repository, codes in
            let backfill = LinkBackfill(client: client, batchSize: 20, logger: TestStack.logger)
            let doomed = Array(codes.shuffled().prefix(200))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = try await backfill.run { _, _ in } }
                group.addTask {
                    for code in doomed { _ = try await repository.delete(code) }
                }
                try await group.waitForAll()
            }
            // Per code, the outbox's order (the topic's) must be revision order: the last event
            // of a code, which compaction keeps forever, is its newest.
            let rows = try await client.query(
                "SELECT payload FROM outbox WHERE topic = 'links' AND message_key NOT LIKE '@%' ORDER BY id",
                logger: TestStack.logger)
            var latest: [String: Int64] = [:]
            var reordered: [String] = []
            for try await payload in rows.decode(ByteBuffer.self) {
                let event = try EventCodec.decodeLinkEvent(Array(buffer: payload))
                if let seen = latest[event.code], seen > event.revision { reordered.append(event.code) }
                latest[event.code] = max(latest[event.code] ?? 0, event.revision)
            }
            #expect(reordered.isEmpty, "stale events after newer ones for \(reordered.count) codes")
        }
    }
}
