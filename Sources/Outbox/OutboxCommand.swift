import ArgumentParser
import Hummingbird
import PostgresNIO
import SharedConfiguration
import SharedKafka
import SharedPostgres
import SharedResilience
import SharedService

/// The outbox relay: publishes committed outbox rows to Kafka.
@main
struct OutboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox",
        abstract: "Relay outbox rows from Postgres to Kafka, in order, marking them only once acknowledged."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var postgres: PostgresOptions
    @OptionGroup var http: HTTPOptions

    /// Seconds between fallback polls when no NOTIFY arrives. Default: 5.
    /// Environment: `SHORTENER_OUTBOX_POLL_INTERVAL`.
    @Option(help: "Seconds between fallback polls (env SHORTENER_OUTBOX_POLL_INTERVAL).")
    var pollInterval: Double = EnvironmentDefaults.double("SHORTENER_OUTBOX_POLL_INTERVAL", 5)

    /// Most rows published per round. Default: 500. Environment: `SHORTENER_OUTBOX_BATCH`.
    @Option(help: "Most rows published per round (env SHORTENER_OUTBOX_BATCH).")
    var batchSize: Int = EnvironmentDefaults.int("SHORTENER_OUTBOX_BATCH", 500)

    /// Seconds to wait before draining again while creates are in flight, so that their rows
    /// gather into fuller batches (see ``OutboxRelay/Settings/busyInterval``). Default: 0.01.
    /// Environment: `SHORTENER_OUTBOX_BUSY_INTERVAL`.
    @Option(help: "Seconds between drains while creates are in flight (env SHORTENER_OUTBOX_BUSY_INTERVAL).")
    var busyInterval: Double = EnvironmentDefaults.double("SHORTENER_OUTBOX_BUSY_INTERVAL", 0.01)

    /// Seconds a published row stays in the outbox before it is deleted. Default: 604800 (7 days).
    /// Environment: `SHORTENER_OUTBOX_RETENTION`.
    @Option(help: "Seconds a published row stays in the outbox (env SHORTENER_OUTBOX_RETENTION).")
    var retention: Double = EnvironmentDefaults.double("SHORTENER_OUTBOX_RETENTION", 604_800)

    func validate() throws {
        try validateSeconds(pollInterval, in: 0.01...3600, option: "--poll-interval")
        try validateSeconds(busyInterval, in: 0...1, option: "--busy-interval")
        try validateSeconds(retention, in: 1...31_536_000, option: "--retention")
        guard (1...100_000).contains(batchSize) else { throw ValidationError("--batch-size must be 1 to 100000") }
    }

    func run() async throws {
        let logger = try Observability.bootstrap(service: "outbox", options: common)
        let namespace = try common.resolvedNamespace()
        let outbox = try OutboxApplication(
            configuration: .init(
                namespace: namespace, kafkaBrokers: common.kafkaBrokers,
                clients: try KafkaClientSettings.load(from: common.topicsDir),
                postgres: try postgres.clientConfiguration(namespace: namespace),
                postgresBreaker: try postgres.breakerSettings(),
                relay: .init(
                    pollInterval: .seconds(pollInterval), batchSize: batchSize, busyInterval: .seconds(busyInterval),
                    retention: .seconds(retention)),
                http: try http.resolvedServerSettings(defaultPort: 8090)),
            logger: logger)
        try await ServiceRunner.run(
            outbox.services, shutdownTimeout: .seconds(common.shutdownTimeout), logger: logger)
    }
}
