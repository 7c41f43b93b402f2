import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle
import SharedConfiguration
import SharedKafka
import SharedPostgres
import SharedResilience
import SharedService

/// The outbox relay's parts, composed in one place from a ``Configuration``: `main` and the
/// tests build it the same way. The Postgres pool, the `relay` producer, the relay itself, the
/// backlog gauge and the health server.
struct OutboxApplication {
    /// What the relay needs to know.
    struct Configuration: Sendable {
        /// Prefix of topics and the database.
        var namespace: Namespace
        /// Kafka bootstrap servers.
        var kafkaBrokers: String
        /// Settings of its one client, the `relay` producer.
        var clients: KafkaClientSettings
        /// Where the database is.
        var postgres: PostgresClient.Configuration
        /// The settings of the breaker in front of Postgres (its call timeout).
        var postgresBreaker = CircuitBreaker.Settings()
        /// Fallback poll interval and batch size.
        var relay: OutboxRelay.Settings
        /// Where and how the health server listens.
        var http: HTTPServerSettings
    }

    /// The Postgres pool (a service of ``services``).
    let postgres: PostgresClient
    /// The relay (a service of ``services``).
    let relay: OutboxRelay
    /// Everything to run, in start order; a `ServiceGroup` stops them in reverse: the health
    /// server first, then the relay, the producer's flush and last the Postgres pool.
    let services: [any Service]

    init(configuration: Configuration, logger: Logger) throws {
        let postgres = PostgresClient(configuration: configuration.postgres, backgroundLogger: logger)
        // Ready only once the producer knows the partitions of every topic the outbox holds rows
        // for: links created right after start go out at once, not after librdkafka's next
        // metadata scan. (A batch waits for all its acknowledgements: an audit row whose topic
        // was unknown held the next link back by a second.)
        let producer = try KafkaProducer(
            settings: KafkaProducerSettings(
                bootstrapServers: configuration.kafkaBrokers, clientSettings: configuration.clients[.relay]),
            preparing: OutboxRow.topics.map(configuration.namespace.topic), logger: logger)
        let postgresBreaker = CircuitBreaker.postgres(settings: configuration.postgresBreaker, logger: logger)
        let kafkaBreaker = CircuitBreaker.kafka(logger: logger)
        let relay = OutboxRelay(
            client: postgres, producer: producer, postgres: postgresBreaker, kafka: kafkaBreaker,
            namespace: configuration.namespace, settings: configuration.relay, logger: logger)
        let health = HealthServer.build(
            settings: configuration.http, breakers: [postgresBreaker, kafkaBreaker],
            readiness: {
                let kafka =
                    producer.isPrepared ? [] : ["kafka: the partitions of the outbox's topics are not known yet"]
                return await postgres.readinessProblems(through: postgresBreaker, logger: logger) + kafka
            },
            liveness: { [producer.fatalProblem].compactMap { $0 } }, logger: logger)
        let backlog = OutboxBacklog(client: postgres, postgres: postgresBreaker, logger: logger)
        self.postgres = postgres
        self.relay = relay
        self.services = [postgres, producer, relay, backlog, health]
    }
}
