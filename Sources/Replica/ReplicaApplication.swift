import Hummingbird
import Logging
import ServiceLifecycle
import Shared

/// A replica's parts, composed in one place for `main` and the tests: the links consumer
/// filling Redis, the click reporter with its producer, and the HTTP server.
struct ReplicaApplication {
    /// What a replica needs to know.
    struct Configuration: Sendable {
        /// Prefix of topics, group and Redis keys.
        var namespace: Namespace
        /// Names the consumer group and the replica's click counts.
        var replicaID: String
        /// Kafka bootstrap servers.
        var kafkaBrokers: String
        /// `topics/links.properties`: the consumer's settings.
        var links: TopicDefinition
        /// `topics/counts.properties`: the producer's settings.
        var counts: TopicDefinition
        /// Time between reports of moved click totals.
        var clickReportInterval: Duration
        /// HTTP listen address.
        var host: String
        var port: Int
    }

    let store: LinkStore
    let consumer: KafkaConsumer
    let reporter: ClickReporter
    /// Everything to run, in start order; a `ServiceGroup` stops them in reverse: HTTP first, then
    /// the final click report, the producer's flush, and the consumer.
    let services: [any Service]

    init(configuration: Configuration, redis: RedisConnection, logger: Logger) throws {
        let namespace = configuration.namespace
        let store = LinkStore(redis: redis, namespace: namespace)
        let consumer = try KafkaConsumer(
            settings: KafkaConsumerSettings(
                bootstrapServers: configuration.kafkaBrokers,
                groupID: namespace.replicaGroup(replicaID: configuration.replicaID),
                assignment: .allPartitions(topic: namespace.linksTopic) { _ in try await store.appliedOffsets() },
                topicSettings: configuration.links.consumerSettings
            ),
            logger: logger
        ) { message in
            try await store.apply(message, logger: logger)
        }
        let producer = try KafkaProducer(
            settings: KafkaProducerSettings(
                bootstrapServers: configuration.kafkaBrokers, topicSettings: configuration.counts.producerSettings),
            logger: logger)
        let reporter = ClickReporter(
            ledger: ClickLedger(redis: redis, namespace: namespace), producer: producer, namespace: namespace,
            replicaID: configuration.replicaID, settings: .init(interval: configuration.clickReportInterval),
            logger: logger)
        let router = Router(context: AppRequestContext.self)
        HealthController(readiness: {
            consumer.isCaughtUp ? [] : ["catching up with the links topic"]
        }).addRoutes(to: router)
        RedirectController(store: store, reporter: reporter).addRoutes(to: router)
        let app = Application(
            router: router, configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
            logger: logger)
        self.store = store
        self.consumer = consumer
        self.reporter = reporter
        self.services = [consumer, producer, reporter, app]
    }
}
