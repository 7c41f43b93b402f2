import Logging
import PostgresNIO
import ServiceLifecycle

/// Makes every master see a key change at once: it LISTENs on a pooled connection for the
/// `api_keys` notification (a trigger sends it when a key is added, changed or revoked, on any
/// master or by `master keys`) and has ``APIKeyGuard`` reload on the next request. While it is
/// not listening (Postgres away, a reconnect), the guard's own refresh interval still bounds
/// how long a revoked key works.
final class KeyChangeListener: Service, Sendable {
    /// The channel the migration's trigger notifies.
    static let channel = "api_keys"

    private let client: PostgresClient
    private let keys: APIKeyGuard
    private let logger: Logger

    init(client: PostgresClient, keys: APIKeyGuard, logger: Logger) {
        self.client = client
        self.keys = keys
        self.logger = logger
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            // A change made while nobody listened is read now.
                            keys.invalidate()
                            for try await _ in notifications { keys.invalidate() }
                        }
                    }
                } catch {
                    guard !Task.isCancelled else { return }
                    logger.warning(
                        "Listening for API key changes failed; retrying in 1 s", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }
}
