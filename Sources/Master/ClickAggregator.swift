import Logging
import PostgresNIO
import Shared

/// Applies the replicas' count events from `<ns>-counts` to Postgres.
///
/// Each consumed batch is folded with ``ClickTally`` (highest total per code, replica and epoch)
/// and written in one idempotent upsert that only ever raises a stored total. The consumer
/// stores the batch's offsets only after the upsert committed, so a crash re-applies a batch,
/// which changes nothing.
struct ClickAggregator: Sendable {
    let client: PostgresClient
    let breaker: CircuitBreaker
    let deadLetters: DeadLetterQueue
    let logger: Logger

    /// The consumer feeding an aggregator: group `<ns>-master` on `<ns>-counts`, settings from
    /// `topics/counts.properties`.
    static func consumer(
        client: PostgresClient, breaker: CircuitBreaker, deadLetters: DeadLetterQueue, namespace: Namespace,
        kafkaBrokers: String, counts: TopicDefinition, logger: Logger
    ) throws -> KafkaConsumer {
        let aggregator = ClickAggregator(client: client, breaker: breaker, deadLetters: deadLetters, logger: logger)
        return try KafkaConsumer(
            settings: KafkaConsumerSettings(
                bootstrapServers: kafkaBrokers, groupID: namespace.masterGroup,
                assignment: .subscribe(topics: [namespace.countsTopic]), topicSettings: counts.consumerSettings),
            logger: logger,
            batchHandler: aggregator.apply)
    }

    /// Decodes, folds and writes one batch; unusable messages are dead-lettered.
    func apply(_ messages: [KafkaMessage]) async throws {
        var tally = ClickTally()
        for message in messages {
            if let event = try await deadLetters.decode(message, with: EventCodec.decodeClickCountEvent) {
                tally.record(event)
            }
        }
        try await write(tally)
    }

    /// Raises the stored totals to the tally's, in one statement.
    func write(_ tally: ClickTally) async throws {
        guard !tally.highest.isEmpty else { return }
        var codes: [String] = []
        var replicas: [String] = []
        var epochs: [String] = []
        var totals: [Int64] = []
        // Sorted, so concurrent writers lock rows in the same order and never deadlock.
        for (counter, total) in tally.highest.sorted(by: { Self.precedes($0.key, $1.key) }) {
            codes.append(counter.code)
            replicas.append(counter.replicaID)
            epochs.append(counter.replicaEpoch)
            totals.append(total)
        }
        try await breaker.run { [client, logger, codes, replicas, epochs, totals] in
            try await client.query(
                """
                INSERT INTO click_counts (code, replica_id, replica_epoch, total)
                SELECT * FROM unnest(\(codes)::text[], \(replicas)::text[], \(epochs)::text[], \(totals)::bigint[])
                ON CONFLICT (code, replica_id, replica_epoch) DO UPDATE
                    SET total = excluded.total, updated_at = now()
                    WHERE click_counts.total < excluded.total
                """, logger: logger)
        }
        logger.debug("Recorded click totals", metadata: ["clicks.counters": "\(totals.count)"])
    }

    private static func precedes(_ left: ClickTally.Counter, _ right: ClickTally.Counter) -> Bool {
        (left.code, left.replicaID, left.replicaEpoch) < (right.code, right.replicaID, right.replicaEpoch)
    }
}
