import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import SharedResilience

/// Measures the outbox backlog for `/metrics` every ``interval``: `outbox_pending_rows` and
/// `outbox_oldest_pending_age_seconds` (0 when nothing is pending). A growing age means
/// links are created but do not reach Kafka.
struct OutboxBacklog: Service {
    let client: PostgresClient
    let postgres: CircuitBreaker
    /// Time between measurements. Default: 5 s.
    var interval: Duration = .seconds(5)
    let logger: Logger

    private static let pendingRows = Gauge(label: "outbox_pending_rows")
    private static let oldestAge = Gauge(label: "outbox_oldest_pending_age_seconds")

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                do {
                    let (rows, age) = try await measure()
                    Self.pendingRows.record(rows)
                    Self.oldestAge.record(age)
                } catch {
                    logger.debug("Measuring the outbox backlog failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }

    /// Pending rows, and the age in seconds of the oldest.
    func measure() async throws -> (rows: Int, age: Double) {
        try await postgres.run { [client, logger] in
            let rows = try await client.query(
                """
                SELECT count(*)::int, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
                FROM outbox WHERE published_at IS NULL
                """, logger: logger)
            for try await (count, age) in rows.decode((Int, Double).self) { return (count, age) }
            return (0, 0)
        }
    }
}
