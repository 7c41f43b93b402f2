import ArgumentParser
import Hummingbird
import PostgresNIO
import Shared

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

    func run() async throws {
        let logger = try Observability.bootstrap(service: "outbox", options: common)
        let namespace = try common.resolvedNamespace()
        let links = try TopicDefinition.load(.links, from: common.topicsDir)
        let client = PostgresClient(
            configuration: postgres.clientConfiguration(namespace: namespace),
            backgroundLogger: logger)
        let producer = try KafkaProducer(
            settings: KafkaProducerSettings(
                bootstrapServers: common.kafkaBrokers, topicSettings: links.producerSettings),
            logger: logger
        )
        let postgresBreaker = CircuitBreaker.postgres(logger: logger)
        let kafkaBreaker = CircuitBreaker.kafka(logger: logger)
        let relay = OutboxRelay(
            client: client, producer: producer, postgres: postgresBreaker, kafka: kafkaBreaker, namespace: namespace,
            settings: .init(pollInterval: .milliseconds(Int(pollInterval * 1000)), batchSize: batchSize),
            logger: logger
        )
        let health = HealthServer.build(
            host: http.host, port: http.resolvedPort(default: 8090), server: try http.resolvedServerSettings(),
            breakers: [postgresBreaker, kafkaBreaker],
            readiness: { await client.readinessProblems(through: postgresBreaker, logger: logger) },
            liveness: { [producer.fatalProblem].compactMap { $0 } }, logger: logger)
        let backlog = OutboxBacklog(client: client, postgres: postgresBreaker, logger: logger)
        try await ServiceRunner.run(
            [client, producer, relay, backlog, health], shutdownTimeout: .seconds(common.shutdownTimeout),
            logger: logger)
    }
}
