import Foundation
import Logging
import NIOCore
import PostgresNIO
import SharedConfiguration
import SharedEvents
import SharedKafka
import SharedLinks
import SharedPostgres
import SharedResilience

/// Applies the replicas' count events from `<ns>-counts` to Postgres.
///
/// Each consumed batch is folded with ``ClickTally`` (highest total per code, replica and epoch)
/// and written in one idempotent upsert that only ever raises a stored total. The consumer
/// stores the batch's offsets only after the upsert committed, so a crash re-applies a batch,
/// which changes nothing. The breakdowns (hours and dimension values) are raised the same way,
/// in the same transaction.
struct ClickAggregator: Sendable {
    let client: PostgresClient
    let breaker: CircuitBreaker
    let deadLetters: DeadLetterQueue
    let logger: Logger
    /// Days an hour stays an hour; older ones are folded into days (``ClickHourFolding``) and
    /// no longer raised here, so a late copy of an event cannot count a folded hour twice.
    var hourlyDays = ClickHourFolding.defaultHourlyDays

    /// Count events per transaction: each carries a code's breakdown (a dozen rows or so), so a
    /// batch stays a few thousand rows, well within the aggregator's call timeout.
    static let maximumBatch = 100

    /// The aggregator's own Postgres breaker: a batch write may take seconds on a loaded
    /// machine (15 s timeout), and its slowness must not open the breaker the API answers by.
    static func breaker(logger: Logger) -> CircuitBreaker {
        var settings = CircuitBreaker.Settings()
        settings.callTimeout = .seconds(15)
        return .postgres(settings: settings, logger: logger)
    }

    /// The consumer feeding an aggregator: group `<ns>-master` on `<ns>-counts`, with the
    /// `master-counts` client settings, ``maximumBatch`` events at a time.
    static func consumer(
        client: PostgresClient, breaker: CircuitBreaker, deadLetters: DeadLetterQueue, namespace: Namespace,
        kafkaBrokers: String, clients: KafkaClientSettings, hourlyDays: Int = ClickHourFolding.defaultHourlyDays,
        logger: Logger
    ) throws -> KafkaConsumer {
        let aggregator = ClickAggregator(
            client: client, breaker: breaker, deadLetters: deadLetters, logger: logger, hourlyDays: hourlyDays)
        var settings = KafkaConsumerSettings(
            bootstrapServers: kafkaBrokers, groupID: namespace.masterGroup,
            assignment: .subscribe(topics: [namespace.countsTopic]), clientSettings: clients[.masterCounts])
        settings.maxBatch = maximumBatch
        return try KafkaConsumer(settings: settings, logger: logger, batchHandler: aggregator.apply)
    }

    /// Decodes, folds and writes one batch; unusable messages are dead-lettered. Should Postgres
    /// refuse the batch's data, the events are written one by one and those it refuses are
    /// dead-lettered, so that no event can stall the partition by being retried for ever.
    func apply(_ messages: [KafkaMessage]) async throws {
        var tally = ClickTally()
        var events: [(message: KafkaMessage, event: ClickCountEvent)] = []
        for message in messages {
            if let event = try await deadLetters.decode(message, with: EventCodec.decodeClickCountEvent) {
                tally.record(event)
                events.append((message, event))
            }
        }
        do {
            try await write(tally)
        } catch  where error.isRefusedData {
            logger.error(
                "Postgres refused a batch of click counts; writing them one by one",
                metadata: ["error": "\(String(reflecting: error))", "kafka.messages": "\(events.count)"])
            for (message, event) in events {
                var single = ClickTally()
                single.record(event)
                do {
                    try await write(single)
                } catch  where error.isRefusedData {
                    try await deadLetters.divert(
                        message, reason: "refused", detail: "Postgres refused it: \(error.postgresSQLState ?? "?")")
                }
            }
        }
    }

    /// Raises the stored totals to the tally's, in one statement, and in the same transaction
    /// marks the links whose summed visits reached their `max_clicks` as exhausted, announcing
    /// it to the replicas through the outbox (`link.exhausted`), and queues a `link.milestone`
    /// for every milestone (100, 1000, …) a link's total passed.
    func write(_ tally: ClickTally) async throws {
        guard !tally.highest.isEmpty else { return }
        var keys: [String] = []
        var replicas: [String] = []
        var epochs: [String] = []
        var totals: [Int64] = []
        // Sorted, so concurrent writers lock rows in the same order and never deadlock.
        for (counter, total) in tally.highest.sorted(by: { Self.precedes($0.key, $1.key) }) {
            keys.append(counter.linkKey)
            replicas.append(counter.replicaID)
            epochs.append(counter.replicaEpoch)
            totals.append(total)
        }
        try await breaker.run { [client, logger, keys, replicas, epochs, totals] in
            try await client.withTransaction(logger: logger) { connection in
                let distinctKeys = Array(Set(keys)).sorted()
                // One writer per link at a time: a concurrent batch (a second master, a retry)
                // waits here and then reads totals that include this one's. Without the lock
                // both could see the same "before" (a milestone sent twice) or neither the
                // other's rows (a milestone never sent).
                try await connection.query(
                    "SELECT link_key FROM links WHERE link_key = ANY(\(distinctKeys)) ORDER BY link_key FOR UPDATE",
                    logger: logger)
                let before = try await Self.totals(of: distinctKeys, on: connection, logger: logger)
                try await connection.query(
                    """
                    INSERT INTO click_counts (link_key, replica_id, replica_epoch, total)
                    SELECT * FROM unnest(\(keys)::text[], \(replicas)::text[], \(epochs)::text[], \(totals)::bigint[])
                    ON CONFLICT (link_key, replica_id, replica_epoch) DO UPDATE
                        SET total = excluded.total, updated_at = now()
                        WHERE click_counts.total < excluded.total
                    """, logger: logger)
                try await writeBreakdowns(of: tally, on: connection)
                try await Self.markExhausted(among: distinctKeys, on: connection, logger: logger)
                let after = try await Self.totals(of: distinctKeys, on: connection, logger: logger)
                try await Self.queueMilestones(before: before, after: after, on: connection, logger: logger)
            }
        }
        logger.debug("Recorded click totals", metadata: ["clicks.counters": "\(totals.count)"])
    }

    /// Raises the stored hour and dimension totals to the tally's (hours past the folding
    /// horizon excepted), in two statements.
    private func writeBreakdowns(of tally: ClickTally, on connection: PostgresConnection) async throws {
        let horizon = Date().addingTimeInterval(-86_400 * Double(hourlyDays - 1))
        var hours:
            (keys: [String], starts: [Date], bots: [Bool], replicas: [String], epochs: [String], totals: [Int64]) =
                ([], [], [], [], [], [])
        var values:
            (
                keys: [String], dimensions: [String], values: [String], bots: [Bool], replicas: [String],
                epochs: [String], totals: [Int64]
            ) = ([], [], [], [], [], [], [])
        // Unsorted: the links' row locks, taken first, already order concurrent writers.
        for (key, total) in tally.breakdowns {
            if key.dimension == .hour {
                guard let start = ClickHourFolding.start(ofHour: key.value), start >= horizon else { continue }
                hours.keys.append(key.counter.linkKey)
                hours.starts.append(start)
                hours.bots.append(key.bot)
                hours.replicas.append(key.counter.replicaID)
                hours.epochs.append(key.counter.replicaEpoch)
                hours.totals.append(total)
            } else {
                values.keys.append(key.counter.linkKey)
                values.dimensions.append(key.dimension.rawValue)
                values.values.append(key.value)
                values.bots.append(key.bot)
                values.replicas.append(key.counter.replicaID)
                values.epochs.append(key.counter.replicaEpoch)
                values.totals.append(total)
            }
        }
        if !hours.keys.isEmpty {
            try await connection.query(
                """
                INSERT INTO click_hours (link_key, hour, bot, replica_id, replica_epoch, total)
                SELECT * FROM unnest(\(hours.keys)::text[], \(hours.starts)::timestamptz[], \(hours.bots)::boolean[],
                    \(hours.replicas)::text[], \(hours.epochs)::text[], \(hours.totals)::bigint[])
                ON CONFLICT (link_key, hour, bot, replica_id, replica_epoch) DO UPDATE SET total = excluded.total
                    WHERE click_hours.total < excluded.total
                """, logger: logger)
        }
        if !values.keys.isEmpty {
            try await connection.query(
                """
                INSERT INTO click_values (link_key, dimension, value, bot, replica_id, replica_epoch, total)
                SELECT * FROM unnest(\(values.keys)::text[], \(values.dimensions)::text[], \(values.values)::text[],
                    \(values.bots)::boolean[], \(values.replicas)::text[], \(values.epochs)::text[],
                    \(values.totals)::bigint[])
                ON CONFLICT (link_key, dimension, value, bot, replica_id, replica_epoch) DO UPDATE SET total = excluded.total
                    WHERE click_values.total < excluded.total
                """, logger: logger)
        }
    }

    /// Link key → summed total, for the links that have counts.
    private static func totals(of keys: [String], on connection: PostgresConnection, logger: Logger) async throws
        -> [String: Int64]
    {
        let rows = try await connection.query(
            "SELECT link_key, sum(total)::bigint FROM click_counts WHERE link_key = ANY(\(keys)) GROUP BY link_key",
            logger: logger)
        var totals: [String: Int64] = [:]
        for try await (key, total) in rows.decode((String, Int64).self) { totals[key] = total }
        return totals
    }

    /// Queues a `link.milestone` in the outbox for every milestone between `before` and `after`.
    private static func queueMilestones(
        before: [String: Int64], after: [String: Int64], on connection: PostgresConnection, logger: Logger
    ) async throws {
        var rows: [OutboxRow] = []
        for (key, total) in after.sorted(by: { $0.key < $1.key }) {
            guard let address = LinkAddress(key: key) else { continue }
            for milestone in LinkMilestoneEvent.milestones(crossedFrom: before[key] ?? 0, to: total) {
                rows.append(OutboxRow(LinkMilestoneEvent(address, milestone: milestone, clicks: total)))
            }
        }
        try await OutboxWriter.append(rows, on: connection, logger: logger)
    }

    /// Marks the limited links among `keys` whose total reached `max_clicks`, once each.
    private static func markExhausted(among keys: [String], on connection: PostgresConnection, logger: Logger)
        async throws
    {
        let rows = try await connection.query(
            """
            UPDATE links l SET exhausted_at = now(), revision = l.revision + 1
            FROM (SELECT link_key, sum(total) AS clicks FROM click_counts WHERE link_key = ANY(\(keys)) GROUP BY link_key) t
            WHERE l.link_key = t.link_key AND l.max_clicks IS NOT NULL AND t.clicks >= l.max_clicks
              AND l.exhausted_at IS NULL AND l.deleted_at IS NULL
            RETURNING l.domain, l.code, l.revision
            """, logger: logger)
        var exhausted: [(LinkAddress, Int64)] = []
        for try await (domain, code, revision) in rows.decode((String, String, Int64).self) {
            exhausted.append((LinkAddress(domain: domain, code: code), revision))
        }
        guard !exhausted.isEmpty else { return }
        try await OutboxWriter.append(
            exhausted.map { OutboxRow(LinkEvent.exhausted($0.0, revision: $0.1)) }, on: connection,
            logger: logger)
        logger.info("Links used up their visits", metadata: ["link.keys": "\(exhausted.map(\.0.key))"])
    }

    private static func precedes(_ left: ClickTally.Counter, _ right: ClickTally.Counter) -> Bool {
        (left.linkKey, left.replicaID, left.replicaEpoch) < (right.linkKey, right.replicaID, right.replicaEpoch)
    }
}
