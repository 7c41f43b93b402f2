import Foundation
import PostgresNIO
import SharedConfiguration
import SharedEvents
import SharedKafka
import TestSupport
import Testing
@testable import Master
import SharedLinks

/// The master's click aggregation never stalls on a count event: out-of-range totals are dead
/// letters at once, and an event Postgres refuses is dead-lettered while the rest of its batch
/// is applied.
@Suite struct ClickAggregatorRefusalTests {
    @Test func anEventPostgresRefusesIsDeadLetteredAndTheOthersOfItsBatchApply() async throws {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        try await withRunningServices(master.backgroundServices) {
            let kept = try await master.repository.create(try LinkRequest(url: "https://e.com/kept").validated()).code
            let refused = try await master.repository.create(try LinkRequest(url: "https://e.com/no").validated()).code
            // What Postgres will not take, whatever the reason: here a constraint of the test's own.
            try await master.postgres.query(
                "ALTER TABLE click_counts ADD CONSTRAINT refuses_one_code CHECK (link_key <> \(unescaped: "'\(refused)'"))",
                logger: TestStack.logger)
            let events = [
                ClickCountEvent(LinkAddress(code: kept), replicaID: "a", replicaEpoch: "e1", total: 5),
                ClickCountEvent(LinkAddress(code: refused), replicaID: "a", replicaEpoch: "e1", total: 7),
                // Two epochs at Int64.max overflowed the master's sum and stalled the batch for ever.
                ClickCountEvent(LinkAddress(code: kept), replicaID: "b", replicaEpoch: "e1", total: .max),
                ClickCountEvent(LinkAddress(code: kept), replicaID: "b", replicaEpoch: "e2", total: .max),
                ClickCountEvent(LinkAddress(code: kept), replicaID: "a", replicaEpoch: "e1", total: 9),
            ]
            let producer = try KafkaProducer(
                settings: .init(bootstrapServers: try TestStack.kafkaBrokers), logger: TestStack.logger)
            try await withRunningServices([producer]) {
                // One partition (same key for all), so they arrive as one batch when they can.
                let deliveries = try events.map { event in
                    try producer.enqueue(topic: namespace.countsTopic, key: "k", value: EventCodec.encode(event))
                }
                for delivery in deliveries { _ = try await delivery.value() }
            }
            let applied = try await eventually(timeout: .seconds(20)) {
                try await master.repository.link(kept)?.clicks == 9
            }
            #expect(applied, "the kept link's count after the refused one was not applied")
            #expect(try await master.repository.link(refused)?.clicks == 0)

            let letters = try await DeadLetters.read(namespace, atLeast: 3)
            let reasons = letters.map { $0.header("dlq.reason") ?? "?" }
            #expect(reasons.sorted() == ["malformed", "malformed", "refused"], "\(reasons)")
        }
    }
}
