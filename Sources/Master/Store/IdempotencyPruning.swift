import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import SharedResilience

/// Forgets `Idempotency-Key`s older than ``retention``, of single and bulk creates alike, every
/// ``interval``: without it both tables grow with every keyed create, for good. A retry after
/// the retention is a new request (as with Stripe's 24 hours).
struct IdempotencyPruning: Service {
    /// How long a key is remembered by default: 24 h.
    static let defaultRetention: Duration = .seconds(86_400)

    let client: PostgresClient
    let breaker: CircuitBreaker
    let logger: Logger
    /// How long a key is remembered.
    var retention = Self.defaultRetention
    /// Time between prunings. Default: 10 min.
    var interval: Duration = .seconds(600)

    /// The tables of remembered keys, each with `created_at` indexed.
    private static let tables = ["idempotency_keys", "bulk_requests"]
    /// Rows deleted per statement, so that no statement holds its locks long.
    private static let chunk = 5_000

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let pruned = try await prune()
                    if pruned > 0 { logger.info("Forgot old idempotency keys", metadata: ["keys": "\(pruned)"]) }
                } catch {
                    logger.warning("Pruning idempotency keys failed; retrying later", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }

    /// Deletes the keys created before `now` minus ``retention``; returns how many.
    @discardableResult
    func prune(now: Date = Date()) async throws -> Int {
        let horizon = now.addingTimeInterval(-retention.inSeconds)
        var pruned = 0
        for table in Self.tables {
            while !Task.isCancelled {
                let count = try await breaker.run { [client, logger] in
                    let rows = try await client.query(
                        """
                        WITH gone AS (
                            DELETE FROM \(unescaped: table) WHERE ctid IN (
                                SELECT ctid FROM \(unescaped: table) WHERE created_at < \(horizon) LIMIT \(Self.chunk))
                            RETURNING 1)
                        SELECT count(*)::int FROM gone
                        """, logger: logger)
                    for try await count in rows.decode(Int.self) { return count }
                    return 0
                }
                pruned += count
                if count < Self.chunk { break }
            }
        }
        return pruned
    }
}
