import ArgumentParser
import Hummingbird
import Logging
import Shared

/// A replica: keeps its own Redis in step with `<ns>-links` and serves redirects from it.
@main
struct ReplicaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replica",
        abstract: "Consume every link event into this replica's Redis and serve GET /<code> redirects."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var http: HTTPOptions

    /// This replica's id: names its consumer group `<ns>-replica-<id>`. Default: `a`.
    /// Environment: `SHORTENER_REPLICA_ID`.
    @Option(help: "This replica's id, naming its consumer group (env SHORTENER_REPLICA_ID).")
    var replicaID: String = EnvironmentDefaults.string("SHORTENER_REPLICA_ID", "a")

    /// This replica's own Redis host. Default: `127.0.0.1`. Environment: `SHORTENER_REDIS_HOST`.
    @Option(help: "This replica's own Redis host (env SHORTENER_REDIS_HOST).")
    var redisHost: String = EnvironmentDefaults.string("SHORTENER_REDIS_HOST", "127.0.0.1")

    /// This replica's own Redis port. Default: 26379. Environment: `SHORTENER_REDIS_PORT`.
    @Option(help: "This replica's own Redis port (env SHORTENER_REDIS_PORT).")
    var redisPort: Int = EnvironmentDefaults.int("SHORTENER_REDIS_PORT", 26379)

    func validate() throws {
        guard ShortCode.isWellFormed(replicaID) else {
            throw ValidationError("--replica-id must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")
        }
    }

    func run() async throws {
        let logger = try Observability.bootstrap(service: "replica", options: common)
            .with(metadata: "replica.id", "\(replicaID)")
        let namespace = try common.resolvedNamespace()
        let links = try TopicDefinition.load(.links, from: common.topicsDir)
        let redis = RedisConnection(host: redisHost, port: redisPort, logger: logger)
        defer { redis.close() }
        let store = LinkStore(redis: redis, namespace: namespace)
        let consumer = try KafkaConsumer(
            settings: KafkaConsumerSettings(
                bootstrapServers: common.kafkaBrokers,
                groupID: namespace.replicaGroup(replicaID: replicaID),
                assignment: .allPartitions(topic: namespace.linksTopic) { _ in try await store.appliedOffsets() },
                topicSettings: links.consumerSettings
            ),
            logger: logger
        ) { message in
            try await store.apply(message, logger: logger)
        }
        let app = ReplicaApplication.build(
            store: store, consumer: consumer, host: http.host,
            port: http.resolvedPort(default: 8081), logger: logger)
        try await ServiceRunner.run([consumer, app], shutdownTimeout: .seconds(common.shutdownTimeout), logger: logger)
    }
}

/// Composes the replica's HTTP application; `main` and the tests both call it.
enum ReplicaApplication {
    static func build(
        store: LinkStore, consumer: KafkaConsumer, host: String, port: Int,
        logger: Logger
    ) -> some ApplicationProtocol {
        let router = Router(context: AppRequestContext.self)
        HealthController(readiness: {
            consumer.isCaughtUp ? [] : ["catching up with the links topic"]
        }).addRoutes(to: router)
        RedirectController(store: store).addRoutes(to: router)
        return Application(router: router, configuration: .init(address: .hostname(host, port: port)), logger: logger)
    }
}
