import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import SharedConfiguration
import SharedEvents
import SharedKafka
import SharedPostgres
import TestSupport
import Testing
@testable import Outbox
import SharedLinks

/// The relay against the real Postgres and the dev Kafka broker.
@Suite struct OutboxRelayTests {
    private func insertEvents(_ client: PostgresClient, codes: [String]) async throws {
        for code in codes {
            try await client.withConnection { connection in
                try await OutboxWriter.append(
                    [
                        OutboxRow(
                            LinkEvent.created(LinkAddress(code: code), url: "https://e.com/\(code)", expiresAt: nil))
                    ],
                    on: connection, logger: TestStack.logger)
            }
        }
    }

    /// The relay as `outbox` composes it, on the namespace's database and the dev broker; the
    /// fallback poll (30 s) is too slow to matter, so only notifications and the relay's own
    /// draining move rows.
    private func makeRelay(_ namespace: Namespace, batchSize: Int) throws -> OutboxApplication {
        try OutboxApplication(
            configuration: .test(namespace, relay: .init(pollInterval: .seconds(30), batchSize: batchSize)),
            logger: TestStack.logger)
    }

    private func pendingRows(_ client: PostgresClient) async throws -> Int {
        let rows = try await client.query(
            "SELECT count(*)::int FROM outbox WHERE published_at IS NULL",
            logger: TestStack.logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    private func allRows(_ client: PostgresClient) async throws -> Int {
        let rows = try await client.query("SELECT count(*)::int FROM outbox", logger: TestStack.logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    @Test func publishedRowsAreKeptForTheRetentionThenDeleted() async throws {
        let namespace = try await TestStack.makeNamespace()
        let outbox = try OutboxApplication(
            configuration: .test(
                namespace,
                relay: .init(
                    pollInterval: .seconds(30), batchSize: 50, retention: .seconds(6),
                    pruneInterval: .milliseconds(300))),
            logger: TestStack.logger)
        let client = outbox.postgres
        try await withRunningServices(outbox.services) {
            try await insertEvents(client, codes: (0..<30).map { "kept\($0)" })
            #expect(try await eventually { try await pendingRows(client) == 0 })
            // Published, but younger than the retention: still there.
            #expect(try await allRows(client) == 30)
            #expect(try await eventually(timeout: .seconds(30)) { try await allRows(client) == 0 })
        }
    }

    @Test func publishesEachRowOnceInWriteOrderPerPartitionAndMarksThem() async throws {
        let namespace = try await TestStack.makeNamespace()
        let outbox = try makeRelay(namespace, batchSize: 50)
        let client = outbox.postgres
        let received = NIOLockedValueBox<[(partition: Int32, event: LinkEvent)]>([])
        let consumer = try KafkaConsumer(
            settings: .init(
                bootstrapServers: try TestStack.kafkaBrokers, groupID: "\(namespace.name)-check",
                assignment: .allPartitions(topic: namespace.linksTopic) { _ in [:] },
                clientSettings: try TestStack.kafkaClients[.replicaLinks]),
            logger: TestStack.logger
        ) { message in
            let event = try EventCodec.decodeLinkEvent(message.value)
            #expect(message.keyString == event.code)
            received.withLockedValue { $0.append((message.partition, event)) }
        }
        let codes = (0..<120).map { "code\($0)" }
        try await withRunningServices(outbox.services + [consumer]) {
            // Rows inserted while the relay runs wake it through NOTIFY (the fallback poll is 30 s).
            try await Task.sleep(for: .milliseconds(300))
            try await insertEvents(client, codes: codes)
            let delivered = await eventually { received.withLockedValue { $0.count } >= codes.count }
            #expect(delivered, "received \(received.withLockedValue { $0.count }) of \(codes.count)")
            let marked = try await eventually { try await pendingRows(client) == 0 }
            #expect(marked)
            // Each code once, and within each partition in the order the rows were written.
            let messages = received.withLockedValue { $0 }
            #expect(messages.map(\.event.code).sorted() == codes.sorted())
            let position = Dictionary(uniqueKeysWithValues: codes.enumerated().map { ($1, $0) })
            for partition in Set(messages.map(\.partition)) {
                let order = messages.filter { $0.partition == partition }.compactMap { position[$0.event.code] }
                #expect(order == order.sorted(), "partition \(partition) out of order: \(order)")
            }
        }
    }

    /// Inserts notify only while the relay is idle (migration 0004). Concurrent writers while it
    /// drains send no notification and must still be relayed; so must a lone insert after a
    /// pause, which wakes the idle relay by NOTIFY. The fallback poll (30 s) never helps here.
    @Test func rowsArriveWhetherTheRelayWasBusyOrIdle() async throws {
        let outbox = try makeRelay(try await TestStack.makeNamespace(), batchSize: 7)
        let client = outbox.postgres
        try await withRunningServices(outbox.services) {
            try await Task.sleep(for: .milliseconds(300))
            // Busy: eight writers, 40 rows each, in separate transactions.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<8 {
                    group.addTask { try await insertEvents(client, codes: (0..<40).map { "busy\(writer)-\($0)" }) }
                }
                try await group.waitForAll()
            }
            #expect(try await eventually { try await pendingRows(client) == 0 }, "rows written while busy")
            // Idle: single rows after pauses, each woken by its notification.
            for index in 0..<3 {
                try await Task.sleep(for: .milliseconds(200))
                try await insertEvents(client, codes: ["idle\(index)"])
                #expect(
                    try await eventually(timeout: .seconds(5)) { try await pendingRows(client) == 0 },
                    "lone row \(index) after a pause")
            }
        }
    }

    @Test func aFailedPublishLeavesTheRowPending() async throws {
        let namespace = try await TestStack.makeNamespace()
        // Nothing listens on port 1: every delivery times out after one second.
        var configuration = try OutboxApplication.Configuration.test(
            namespace, relay: .init(pollInterval: .seconds(1), batchSize: 10), kafkaBrokers: "127.0.0.1:1")
        configuration.clients = try KafkaClientSettings.load(
            from: TestStack.topicsDirectory, environment: ["SHORTENER_CLIENT_RELAY_MESSAGE_TIMEOUT_MS": "1000"])
        let outbox = try OutboxApplication(configuration: configuration, logger: TestStack.logger)
        let client = outbox.postgres
        try await withRunningServices(outbox.services) {
            try await insertEvents(client, codes: ["x1", "x2", "x3"])
            // The relay tried (and failed) to publish them, and they are all still pending.
            #expect(await eventually { outbox.relay.failedPublishes >= 1 }, "the relay never tried")
            #expect(try await pendingRows(client) == 3)
        }
    }
}
