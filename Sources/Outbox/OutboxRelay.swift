import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import ServiceLifecycle
import SharedConfiguration
import SharedKafka
import SharedResilience

/// Publishes pending outbox rows to Kafka in id order and marks them published only after the
/// broker acknowledged them.
///
/// One relay is active at a time: it holds a session advisory lock on its own connection, on
/// which it also LISTENs for the `outbox` notification. Others wait on standby and take over
/// when the lock is released (or its session dies).
///
/// Inserts notify only while the relay is idle (migration 0004): a NOTIFY serialises commits
/// cluster-wide, so under load, when the relay is draining anyway, creates send none. The relay
/// is idle while it holds ``idleLockKey``; it takes that lock only when the outbox is empty and
/// no insert that saw it busy is still in flight (those hold the lock shared until they commit).
/// A crash between the acknowledgement and the mark republishes rows: a duplicate, never a loss.
/// Queries go through the Postgres breaker and each batch's produce through the Kafka breaker;
/// while one is open the relay waits instead of hammering the dependency.
struct OutboxRelay: Service {
    /// How the relay paces itself.
    struct Settings: Sendable {
        /// Time between fallback polls when no notification arrives.
        var pollInterval: Duration = .seconds(5)
        /// Most rows enqueued per round.
        var batchSize: Int = 500
        /// Time between attempts to become the active relay while another one is.
        var standbyInterval: Duration = .seconds(2)
        /// How the relay recovers from an error: from 250 ms up to 2 s between tries.
        var retry = RetryPolicy(initialDelay: .milliseconds(250), maximumDelay: .seconds(2))
        /// Pause before draining again while inserts are in flight (the relay cannot go idle yet):
        /// rows gather into larger batches meanwhile. Like a producer's `linger.ms`, it trades a
        /// new link's way to the replicas against the work per link: every cycle costs queries,
        /// produce requests and fetches all along the pipeline. Default: 10 ms.
        var busyInterval: Duration = .milliseconds(10)
        /// How long a published row stays in the outbox before it is deleted (to look into what
        /// was sent; Kafka's compacted links topic, not the outbox, is the record). Default: 7 days.
        var retention: Duration = .seconds(7 * 86_400)
        /// Time between deletions of rows older than ``retention``. Default: 60 s.
        var pruneInterval: Duration = .seconds(60)
    }

    let client: PostgresClient
    let producer: KafkaProducer
    let postgres: CircuitBreaker
    let kafka: CircuitBreaker
    let namespace: Namespace
    let settings: Settings
    let logger: Logger

    /// Key of the advisory lock that elects the active relay.
    static let leaderLockKey: Int64 = 0x5348_4F52_544F_5554
    /// Key of the advisory lock the active relay holds while it waits for a notification; the
    /// outbox trigger (migration 0004) tries it shared to decide whether to notify.
    static let idleLockKey: Int64 = 0x5348_4F52_544F_4944

    /// `outbox_rows_published_total`: rows acknowledged by Kafka and marked.
    private static let published = Counter(label: "outbox_rows_published_total")
    /// `outbox_publish_failures_total`: batches Kafka did not take whole (their rest stays pending).
    private static let publishFailures = Counter(label: "outbox_publish_failures_total")
    private let failedPublishCount = NIOLockedValueBox(0)

    /// Batches whose publish failed since the relay started.
    var failedPublishes: Int { failedPublishCount.withLockedValue { $0 } }
    /// `outbox_publish_lag_seconds`: from the start of a row's transaction to Kafka's
    /// acknowledgement, the relay's share of a new link's way to its first redirect.
    private static let lag = Metrics.Timer(label: "outbox_publish_lag_seconds")

    func run() async throws {
        var wasStandby = false
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var pause = settings.standbyInterval
            do {
                let active = try await runWhileActive()
                if !active && !wasStandby { logger.info("Another relay is active; standing by") }
                wasStandby = !active
                failures = 0
            } catch let open as CircuitOpenError {
                // The breaker logged the outage when it opened; wait until it lets a probe through.
                logger.debug("Waiting for a dependency", metadata: ["error": "\(open)"])
                pause = open.retryAfter
            } catch {
                guard !Task.isShuttingDownGracefully && !Task.isCancelled else { break }
                failures += 1
                logger.error("Outbox relay failed; retrying", metadata: ["error": "\(String(reflecting: error))"])
                pause = settings.retry.wait(beforeRetry: failures)
            }
            try? await cancelWhenGracefulShutdown { [pause] in try await Task.sleep(for: pause) }
        }
    }

    /// Relays until shutdown if this relay wins the lock; `false` if another relay holds it.
    private func runWhileActive() async throws -> Bool {
        try await client.withConnection { connection in
            let acquired = try await postgres.run { [logger] in
                let rows = try await connection.query(
                    "SELECT pg_try_advisory_lock(\(Self.leaderLockKey))", logger: logger)
                for try await locked in rows.decode(Bool.self) { return locked }
                return false
            }
            guard acquired else { return false }
            logger.info("Active outbox relay")
            // The relay's queries all go to this connection: running on its loop, each one
            // goes to Postgres and back without handing off to another thread and back.
            try await withTaskExecutorPreference(EventLoopTaskExecutor(connection.eventLoop)) {
                do {
                    try await connection.listen(on: "outbox") { notifications in
                        try await relay(on: connection, notifications: notifications)
                    }
                } catch {
                    await unlock(connection)
                    throw error
                }
                await unlock(connection)
            }
            return true
        }
    }

    /// Releases the leader and idle locks before the connection goes back to the pool. If the
    /// session is broken the server has released them already, and a query on a dead connection
    /// may never answer: hence the timeout.
    private func unlock(_ connection: PostgresConnection) async {
        _ = try? await withTimeout(.seconds(1)) { [logger] in
            try await connection.query("SELECT pg_advisory_unlock_all()", logger: logger)
        }
    }

    /// Drains the outbox on every wake-up: a notification, the fallback timer, or the start.
    ///
    /// The notification listener and the timer run as unstructured tasks that are cancelled, not
    /// awaited, on the way out: a LISTEN stream on a connection that died may never end, and
    /// must not keep the relay (or the shutdown) waiting. A listener that fails ends the relay,
    /// which then reconnects.
    private func relay(on connection: PostgresConnection, notifications: PostgresNotificationSequence) async throws {
        let (wakeUps, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let listenerFailure = NIOLockedValueBox<(any Error)?>(nil)
        let listener = Task {
            do {
                for try await _ in notifications { wake.yield() }
            } catch {
                listenerFailure.withLockedValue { $0 = error }
            }
            wake.finish()
        }
        let ticker = Self.repeating(every: settings.pollInterval) { wake.yield() }
        let pruner = Self.repeating(every: settings.pruneInterval) { [logger] in
            do {
                try await prunePublishedRows()
            } catch {
                logger.warning("Could not delete old outbox rows", metadata: ["error": "\(error)"])
            }
        }
        defer {
            listener.cancel()
            ticker.cancel()
            pruner.cancel()
        }
        wake.yield()
        var idle = false
        for await _ in wakeUps.cancelOnGracefulShutdown() {
            if idle { try await leaveIdle(on: connection) }
            idle = try await drainUntilIdle(on: connection)
        }
        if let failure = listenerFailure.withLockedValue({ $0 }) { throw failure }
    }

    /// A task that runs `body` every `interval` until it is cancelled.
    private static func repeating(every interval: Duration, _ body: @escaping @Sendable () async -> Void)
        -> Task<Void, Never>
    {
        Task {
            // A cancelled sleep throws: the body never runs after the cancellation.
            while (try? await Task.sleep(for: interval)) != nil { await body() }
        }
    }

    /// Drains the outbox, and again while inserts are in flight, until it can go idle: returns
    /// true holding the idle lock with nothing pending (false when shutting down).
    ///
    /// A quiet outbox costs a batch three statements: the select, the mark together with the try
    /// for the idle lock, and the look for rows that came meanwhile. Once the try failed
    /// (inserts kept coming), the relay stays busy until a select finds nothing: each batch is
    /// marked by the next batch's select, one statement a cycle.
    private func drainUntilIdle(on connection: PostgresConnection) async throws -> Bool {
        var unmarked: [Int64] = []
        var busy = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let batch = try await pendingBatch(on: connection, marking: unmarked)
            var acknowledged: [Int64] = []
            if !batch.isEmpty {
                acknowledged = try await publish(batch, on: connection)
                if batch.count == settings.batchSize || busy {
                    unmarked = acknowledged
                    if batch.count < settings.batchSize { try? await Task.sleep(for: settings.busyInterval) }
                    continue
                }
            }
            unmarked = []
            guard try await markAndTryGoingIdle(acknowledged, on: connection) else {
                busy = true
                try? await Task.sleep(for: settings.busyInterval)
                continue
            }
            // Every insert that saw the relay busy has committed: look once more.
            if try await !hasPendingRows(on: connection) { return true }
            try await leaveIdle(on: connection)
        }
        if !unmarked.isEmpty { _ = try await markAndTryGoingIdle(unmarked, on: connection, tryingIdle: false) }
        return false
    }

    /// Marks `acknowledged` published and, unless told not to, takes the idle lock if no insert
    /// holds it shared: whether it was taken.
    private func markAndTryGoingIdle(
        _ acknowledged: [Int64], on connection: PostgresConnection, tryingIdle: Bool = true
    ) async throws -> Bool {
        try await postgres.run { [logger] in
            let rows = try await connection.query(
                """
                WITH marked AS (UPDATE outbox SET published_at = now() WHERE id = ANY(\(acknowledged)))
                SELECT CASE WHEN \(tryingIdle) THEN pg_try_advisory_lock(\(Self.idleLockKey)) ELSE false END
                """, logger: logger)
            var taken = false
            for try await row in rows.decode(Bool.self) { taken = row }
            Self.published.increment(by: acknowledged.count)
            return taken
        }
    }

    /// Releases the idle lock: inserts stop notifying.
    private func leaveIdle(on connection: PostgresConnection) async throws {
        try await postgres.run { [logger] in
            _ = try await connection.query("SELECT pg_advisory_unlock(\(Self.idleLockKey))", logger: logger)
        }
    }

    private func hasPendingRows(on connection: PostgresConnection) async throws -> Bool {
        try await postgres.run { [logger] in
            let rows = try await connection.query(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL)", logger: logger)
            for try await pending in rows.decode(Bool.self) { return pending }
            return false
        }
    }

    /// Deletes the rows published longer than ``Settings/retention`` ago, oldest first, a
    /// chunk of the lowest ids at a time (an index range, never a scan of the table). It stops
    /// at the first chunk with a row still pending or not yet old enough: rows are published in
    /// id order, so whatever follows is younger. Runs on the pool, beside the relay's cycle.
    func prunePublishedRows() async throws {
        let chunk = 5_000
        var deleted = 0
        while !Task.isCancelled {
            let count = try await postgres.run { [client, logger, settings] in
                let rows = try await client.query(
                    """
                    WITH gone AS (
                        DELETE FROM outbox
                        WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT \(chunk))
                            AND published_at < now() - make_interval(secs => \(settings.retention.inSeconds))
                        RETURNING 1
                    )
                    SELECT count(*)::int FROM gone
                    """, logger: logger)
                for try await count in rows.decode(Int.self) { return count }
                return 0
            }
            deleted += count
            if count < chunk { break }
        }
        if deleted > 0 { logger.info("Deleted old outbox rows", metadata: ["outbox.rows": "\(deleted)"]) }
    }

    /// A pending row, as the relay sends it.
    private struct PendingRow {
        let id: Int64
        let topic: String
        let key: String
        let payload: ByteBuffer
        let created: Date
    }

    /// Marks `acknowledged` published and reads the next batch in id order, in one statement.
    /// The statement sees the outbox as it was before its own mark, so it skips those rows.
    private func pendingBatch(on connection: PostgresConnection, marking acknowledged: [Int64]) async throws
        -> [PendingRow]
    {
        try await postgres.run { [logger, settings] in
            let rows = try await connection.query(
                """
                WITH marked AS (UPDATE outbox SET published_at = now() WHERE id = ANY(\(acknowledged)))
                SELECT id, topic, message_key, payload, created_at FROM outbox
                WHERE published_at IS NULL AND id <> ALL(\(acknowledged)) ORDER BY id LIMIT \(settings.batchSize)
                """, logger: logger)
            var batch: [PendingRow] = []
            for try await (id, topic, key, payload, created) in rows.decode(
                (Int64, String, String, ByteBuffer, Date).self)
            {
                batch.append(PendingRow(id: id, topic: topic, key: key, payload: payload, created: created))
            }
            Self.published.increment(by: acknowledged.count)
            return batch
        }
    }

    /// Enqueues `batch` in id order and waits for the acknowledgements: the ids of the
    /// acknowledged rows, to be marked. If a row fails, marks the acknowledged prefix and throws.
    private func publish(_ batch: [PendingRow], on connection: PostgresConnection) async throws -> [Int64] {
        let (acknowledged, failure) = try await kafka.run(reporting: { await deliver(batch) })
        logger.debug("Published outbox rows", metadata: ["outbox.rows": "\(acknowledged.count)"])
        if let failure {
            Self.publishFailures.increment()
            failedPublishCount.withLockedValue { $0 += 1 }
            if !acknowledged.isEmpty {
                _ = try await markAndTryGoingIdle(acknowledged, on: connection, tryingIdle: false)
            }
            throw failure
        }
        return acknowledged
    }

    /// Enqueues `batch` in id order and waits for each acknowledgement in turn, up to the first
    /// failure: the ids of the acknowledged prefix and the failure, with the outcome for Kafka's
    /// breaker.
    private func deliver(_ batch: [PendingRow]) async
        -> (value: (acknowledged: [Int64], failure: (any Error)?), outcome: CircuitBreaker.Outcome)
    {
        var pending: [(row: PendingRow, delivery: KafkaDelivery)] = []
        var enqueueError: (any Error)?
        for row in batch {
            guard enqueueError == nil else { continue }
            do {
                let delivery = try producer.enqueue(
                    topic: "\(namespace.name)-\(row.topic)", key: row.key, value: Array(buffer: row.payload))
                pending.append((row, delivery))
            } catch {
                enqueueError = error
            }
        }
        // Only the acknowledged prefix counts: a row after a failed one is sent again later, so
        // one code's events never overtake each other across retries.
        var acknowledged: [Int64] = []
        var deliveryError: (any Error)?
        for (row, delivery) in pending {
            do {
                _ = try await delivery.value()
                acknowledged.append(row.id)
                Self.lag.recordSeconds(max(0, Date().timeIntervalSince(row.created)))
            } catch {
                deliveryError = error
                break
            }
        }
        let failure = deliveryError ?? enqueueError
        return ((acknowledged, failure), failure.map { .failure($0) } ?? .success)
    }
}
