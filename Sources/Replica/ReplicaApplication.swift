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
        /// `topics/counts.properties`: the producer's settings (counts and dead letters).
        var counts: TopicDefinition
        /// Time between reports of moved click totals.
        var clickReportInterval: Duration
        /// HTTP listen address.
        var host: String
        var port: Int
        /// Timeouts and connection cap of the HTTP server.
        var server = HTTPServerSettings()
        /// Level of the per-request log line (redirects are many: `debug` by default).
        var requestLogLevel: Logger.Level = .debug
    }

    let store: LinkStore
    let consumer: KafkaConsumer
    let reporter: ClickReporter
    /// Everything to run, in start order; a `ServiceGroup` stops them in reverse: HTTP first, then
    /// the final click report, the Redis watch, the consumer (which may be dead-lettering) and
    /// last the producer's flush.
    let services: [any Service]

    init(configuration: Configuration, redis connection: RedisConnection, logger: Logger) throws {
        let namespace = configuration.namespace
        let redis = GuardedRedis(connection, breaker: .redis(logger: logger))
        let kafka = CircuitBreaker.kafka(logger: logger)
        let store = LinkStore(redis: redis, namespace: namespace)
        let feed = try LinkFeed(
            namespace: namespace, replicaID: configuration.replicaID, kafkaBrokers: configuration.kafkaBrokers,
            links: configuration.links, producerSettings: configuration.counts.producerSettings, store: store,
            kafka: kafka, logger: logger)
        let (producer, consumer) = (feed.producer, feed.consumer)
        let ledger = ClickLedger(redis: redis, namespace: namespace)
        let reporter = ClickReporter(
            ledger: ledger, producer: producer, kafka: kafka,
            namespace: namespace,
            replicaID: configuration.replicaID, settings: .init(interval: configuration.clickReportInterval),
            logger: logger)
        // Kafka's breaker stays out of readiness: redirects work without Kafka (counts wait in Redis).
        let router = ServiceRouter.make(
            breakers: [redis.breaker], requestLogLevel: configuration.requestLogLevel,
            readiness: { Self.readinessProblems(of: consumer) },
            liveness: { [producer.fatalProblem, consumer.fatalProblem].compactMap { $0 } })
        RedirectController(store: store, reporter: reporter, isCatchingUp: { !consumer.isCaughtUp })
            .addRoutes(to: router)
        let app = Application(
            router: router, server: configuration.server.serverBuilder,
            configuration: configuration.server.configuration(
                host: configuration.host, port: configuration.port, logger: logger),
            logger: logger)
        self.store = store
        self.consumer = consumer
        self.reporter = reporter
        let watch = RedisStateWatch(
            store: store, ledger: ledger, consumer: consumer, replicaID: configuration.replicaID, logger: logger)
        self.services = [producer, consumer, watch, reporter, app]
    }

    /// Why the replica cannot serve every link yet: it is still catching up, or it rebuilt from a
    /// links topic that has lost its beginning (a dev broker past its capacity), so links are
    /// missing and it must not pass for complete.
    static func readinessProblems(of consumer: KafkaConsumer) -> [String] {
        var problems: [String] = []
        let missing = consumer.partitionsMissingHistory
        if !missing.isEmpty {
            let partitions = missing.sorted { $0.key < $1.key }.map { "partition \($0.key) starts at \($0.value)" }
            problems.append(
                "the links topic lost its history (\(partitions.joined(separator: ", "))): links are missing; "
                    + "use a real Kafka, or give the dev broker more partitions")
        }
        if !consumer.isCaughtUp { problems.append("catching up with the links topic") }
        return problems
    }
}
