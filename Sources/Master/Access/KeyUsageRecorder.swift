import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import ServiceLifecycle
import SharedResilience

/// Records when each key was last used without a write per request: ``APIKeyGuard`` notes
/// every use in memory (a dictionary entry, no I/O), and every ``interval`` one statement
/// writes the latest use of each key seen since, so a key costs at most one write per interval
/// per master whatever its traffic. What is noted when the master stops is written then.
final class KeyUsageRecorder: Service, Sendable {
    private let client: PostgresClient
    private let breaker: CircuitBreaker
    private let logger: Logger
    /// Time between writes. Default: 60 s.
    let interval: Duration
    /// Key id → latest use, since the last write.
    private let pending = NIOLockedValueBox<[String: Date]>([:])

    init(client: PostgresClient, breaker: CircuitBreaker, logger: Logger, interval: Duration = .seconds(60)) {
        self.client = client
        self.breaker = breaker
        self.logger = logger
        self.interval = interval
    }

    /// Notes that the key `id` was used now.
    func noteUse(of id: String, at time: Date = Date()) {
        pending.withLockedValue { $0[id] = time }
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await flushLogging()
            }
        }
        await flushLogging()
    }

    private func flushLogging() async {
        do {
            try await flush()
        } catch {
            logger.warning("Recording API key use failed; retrying later", metadata: ["error": "\(error)"])
        }
    }

    /// Writes the noted uses, one row per key, in one statement; returns how many keys. Uses
    /// that cannot be written are kept for the next time.
    @discardableResult
    func flush() async throws -> Int {
        let uses = pending.withLockedValue { pending in
            defer { pending = [:] }
            return pending
        }
        guard !uses.isEmpty else { return 0 }
        let ids = Array(uses.keys)
        let times = ids.map { uses[$0]! }
        do {
            try await breaker.run { [client, logger] in
                try await client.query(
                    """
                    UPDATE api_keys SET last_used_at = greatest(last_used_at, u.time)
                    FROM unnest(\(ids)::text[], \(times)::timestamptz[]) AS u(id, time) WHERE api_keys.id = u.id
                    """, logger: logger)
            }
        } catch {
            pending.withLockedValue { pending in pending.merge(uses) { newer, _ in newer } }
            throw error
        }
        return ids.count
    }
}
