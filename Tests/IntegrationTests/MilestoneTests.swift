import Foundation
import PostgresNIO
import SharedEvents
import SharedKafka
import TestSupport
import Testing
@testable import Master
import SharedLinks

/// Click milestones reach the outbox exactly once per link and milestone, however the count
/// batches that cross them are split, raced or retried.
@Suite struct MilestoneTests {
    @Test func concurrentAndRetriedBatchesQueueEachMilestoneOnce() async throws {
        let namespace = try await TestStack.makeNamespace()
        let client = PostgresClient(
            configuration: try TestStack.postgresConfiguration(database: namespace.databaseName))
        // Forty writers queue on twenty links' locks.
        let breaker = TestStack.patientPostgresBreaker()
        let repository = PostgresLinkRepository(client: client, breaker: breaker, logger: TestStack.logger)
        let deadLetters = try DeadLetterQueue.test(namespace, group: namespace.masterGroup)
        let aggregator = ClickAggregator(
            client: client, breaker: breaker, deadLetters: deadLetters, logger: TestStack.logger)
        try await withRunningServices([client]) {
            var codes: [String] = []
            for index in 0..<20 {
                codes.append(
                    try await repository.create(try LinkRequest(url: "https://example.com/m/\(index)").validated()).code
                )
            }
            func tally(_ code: String, _ replica: String, _ total: Int64) -> ClickTally {
                var tally = ClickTally()
                tally.record(
                    ClickCountEvent(LinkAddress(code: code), replicaID: replica, replicaEpoch: "e1", total: total))
                return tally
            }
            // Two replicas' batches, each below 100, together above it, written at the same time.
            for _ in 0..<2 {  // the second round is a retry of the same batches: nothing new
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for code in codes {
                        group.addTask { try await aggregator.write(tally(code, "a", 60)) }
                        group.addTask { try await aggregator.write(tally(code, "b", 60)) }
                    }
                    try await group.waitForAll()
                }
            }
            try await aggregator.write(tally(codes[0], "a", 1000))

            let rows = try await client.query(
                "SELECT message_key, payload FROM outbox WHERE topic = 'milestones' ORDER BY id",
                logger: TestStack.logger)
            var milestones: [String: [Int64]] = [:]
            for try await (code, payload) in rows.decode((String, ByteBuffer).self) {
                let event = try EventCodec.decodeLinkMilestoneEvent(Array(buffer: payload))
                #expect(
                    event.eventID == LinkMilestoneEvent.eventID(LinkAddress(code: code), milestone: event.milestone))
                milestones[code, default: []].append(event.milestone)
            }
            for code in codes {
                #expect(
                    milestones[code] == (code == codes[0] ? [100, 1000] : [100]), "\(code): \(milestones[code] ?? [])")
            }
        }
    }
}
