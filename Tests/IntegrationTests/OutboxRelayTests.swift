import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import Shared
import Testing
import TestSupport

@testable import Outbox

/// The relay against the real Postgres and the dev Kafka broker.
@Suite struct OutboxRelayTests {
    private func insertEvents(_ client: PostgresClient, codes: [String]) async throws {
        for code in codes {
            try await client.withConnection { connection in
                try await OutboxWriter.append(
                    [OutboxRow(LinkEvent.created(code: code, url: "https://e.com/\(code)", expiresAt: nil))],
                    on: connection, logger: TestStack.logger)
            }
        }
    }

    /// A relay on the namespace's database and the dev broker; the fallback poll (30 s) is too
    /// slow to matter, so only notifications and the relay's own draining move rows.
    private func makeRelay(_ namespace: Namespace, batchSize: Int) throws -> (
        PostgresClient, KafkaProducer, OutboxRelay
    ) {
        let client = PostgresClient(
            configuration: try TestStack.postgresConfiguration(database: namespace.databaseName))
        let links = try TopicDefinition.load(.links, from: TestStack.topicsDirectory)
        let producer = try KafkaProducer(
            settings: .init(bootstrapServers: try TestStack.kafkaBrokers, topicSettings: links.producerSettings),
            logger: TestStack.logger)
        let relay = OutboxRelay(
            client: client, producer: producer, postgres: .postgres(logger: TestStack.logger),
            kafka: .kafka(logger: TestStack.logger), namespace: namespace,
            settings: .init(pollInterval: .seconds(30), batchSize: batchSize), logger: TestStack.logger)
        return (client, producer, relay)
    }

    private func pendingRows(_ client: PostgresClient) async throws -> Int {
        let rows = try await client.query(
            "SELECT count(*)::int FROM outbox WHERE published_at IS NULL",
            logger: TestStack.logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    @Test func publishesInOrderAndMarksRowsOnlyAfterTheBrokerAcknowledged() async throws {
        let namespace = try await TestStack.makeNamespace()
        let links = try TopicDefinition.load(.links, from: TestStack.topicsDirectory)
        let (client, producer, relay) = try makeRelay(namespace, batchSize: 50)
        let received = NIOLockedValueBox<[LinkEvent]>([])
        let consumer = try KafkaConsumer(
            settings: .init(
                bootstrapServers: try TestStack.kafkaBrokers, groupID: "\(namespace.name)-check",
                assignment: .allPartitions(topic: namespace.linksTopic) { _ in [:] },
                topicSettings: links.consumerSettings),
            logger: TestStack.logger
        ) { message in
            let event = try EventCodec.decodeLinkEvent(message.value)
            #expect(message.keyString == event.code)
            received.withLockedValue { $0.append(event) }
        }
        let codes = (0..<120).map { "code\($0)" }
        try await withRunningServices([client, producer, consumer, relay]) {
            // Rows inserted while the relay runs wake it through NOTIFY (the fallback poll is 30 s).
            try await Task.sleep(for: .milliseconds(300))
            try await insertEvents(client, codes: codes)
            let delivered = await eventually { received.withLockedValue { Set($0.map(\.code)) }.count == codes.count }
            #expect(delivered, "received \(received.withLockedValue { $0.count }) of \(codes.count)")
            let marked = try await eventually { try await pendingRows(client) == 0 }
            #expect(marked)
        }
    }

    /// Inserts notify only while the relay is idle (migration 0004). Concurrent writers while it
    /// drains send no notification and must still be relayed; so must a lone insert after a
    /// pause, which wakes the idle relay by NOTIFY. The fallback poll (30 s) never helps here.
    @Test func rowsArriveWhetherTheRelayWasBusyOrIdle() async throws {
        let (client, producer, relay) = try makeRelay(try await TestStack.makeNamespace(), batchSize: 7)
        try await withRunningServices([client, producer, relay]) {
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
        let client = PostgresClient(
            configuration: try TestStack.postgresConfiguration(database: namespace.databaseName))
        // Nothing listens on port 1: every delivery times out after one second.
        let producer = try KafkaProducer(
            settings: .init(bootstrapServers: "127.0.0.1:1", topicSettings: ["message.timeout.ms": "1000"]),
            logger: TestStack.logger)
        let relay = OutboxRelay(
            client: client, producer: producer, postgres: .postgres(logger: TestStack.logger),
            kafka: .kafka(logger: TestStack.logger), namespace: namespace,
            settings: .init(pollInterval: .seconds(1), batchSize: 10), logger: TestStack.logger)
        try await withRunningServices([client, producer, relay]) {
            try await insertEvents(client, codes: ["x1", "x2", "x3"])
            try await Task.sleep(for: .seconds(3))
            #expect(try await pendingRows(client) == 3)
        }
    }
}
