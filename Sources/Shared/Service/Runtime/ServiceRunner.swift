import Logging
import ServiceLifecycle
import UnixSignals

/// Runs a service's parts as one `ServiceGroup`, in dependency order.
///
/// Services start together and stop in reverse order on SIGINT or SIGTERM (so list clients
/// first and the HTTP server last: it stops accepting first). A second signal, or the deadline,
/// turns the graceful shutdown into cancellation.
public enum ServiceRunner {
    public static func run(_ services: [any Service], shutdownTimeout: Duration, logger: Logger) async throws {
        var configuration = ServiceGroupConfiguration(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        configuration.maximumGracefulShutdownDuration = shutdownTimeout
        configuration.maximumCancellationDuration = .seconds(5)
        let group = ServiceGroup(configuration: configuration)
        logger.info("Started")
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask {
                var signals = 0
                for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                    signals += 1
                    if signals == 2 {
                        logger.warning("Second signal: forcing the stop", metadata: ["signal": "\(signal)"])
                        throw CancellationError()
                    }
                }
            }
            defer { tasks.cancelAll() }
            try await tasks.next()
        }
        logger.info("Stopped")
    }
}
