import ArgumentParser
import Hummingbird
import Logging
import PostgresNIO
import Shared

/// The master: creates links (Postgres + outbox), aggregates the replicas' click counts and
/// runs the database migrations.
@main
struct MasterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "master",
        abstract: "Creates short links; the outbox relay carries them to the replicas.",
        subcommands: [Serve.self, Migrate.self, Keys.self, Tail.self, Backfill.self, Topics.self],
        defaultSubcommand: Serve.self
    )
}

/// `master serve`: the HTTP API.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the HTTP API (the default).")

    @OptionGroup var common: CommonOptions
    @OptionGroup var postgres: PostgresOptions
    @OptionGroup var http: HTTPOptions

    /// Base of the `short_url` answers: where the replicas serve redirects.
    /// Default: `http://localhost:8081`. Environment: `SHORTENER_PUBLIC_URL`.
    @Option(help: "Base of returned short URLs, where replicas serve redirects (env SHORTENER_PUBLIC_URL).")
    var publicURL: String = EnvironmentDefaults.string("SHORTENER_PUBLIC_URL", "http://localhost:8081")

    /// Creates per second allowed to each API key (or client address without keys); 0 turns
    /// the limit off. Default: 20. Environment: `SHORTENER_CREATE_RATE_LIMIT`.
    @Option(help: "Creates per second per API key or client address; 0: no limit (env SHORTENER_CREATE_RATE_LIMIT).")
    var createRateLimit: Double = EnvironmentDefaults.double("SHORTENER_CREATE_RATE_LIMIT", 20)

    /// Creates a client may make at once after being idle. Default: 40.
    /// Environment: `SHORTENER_CREATE_RATE_BURST`.
    @Option(help: "Creates allowed at once after a pause (env SHORTENER_CREATE_RATE_BURST).")
    var createRateBurst: Double = EnvironmentDefaults.double("SHORTENER_CREATE_RATE_BURST", 40)

    func validate() throws {
        guard createRateLimit >= 0, createRateBurst >= 1 else {
            throw ValidationError("--create-rate-limit must be 0 or more and --create-rate-burst at least 1")
        }
    }

    func run() async throws {
        let logger = try Observability.bootstrap(service: "master", options: common)
        let namespace = try common.resolvedNamespace()
        let client = PostgresClient(
            configuration: postgres.clientConfiguration(namespace: namespace),
            backgroundLogger: logger)
        let breaker = CircuitBreaker.postgres(logger: logger)
        let producer = try KafkaProducer(
            settings: KafkaProducerSettings(
                bootstrapServers: common.kafkaBrokers,
                topicSettings: try TopicDefinition.load(.dlq, from: common.topicsDir).producerSettings),
            logger: logger)
        let deadLetters = DeadLetterQueue(
            producer: producer, breaker: .kafka(logger: logger), namespace: namespace,
            consumerGroup: namespace.masterGroup, logger: logger)
        let countsConsumer = try ClickAggregator.consumer(
            client: client, breaker: breaker, deadLetters: deadLetters, namespace: namespace,
            kafkaBrokers: common.kafkaBrokers,
            counts: try TopicDefinition.load(.counts, from: common.topicsDir), logger: logger)
        let app = MasterApplication.build(
            repository: LinkRepository(client: client, breaker: breaker, logger: logger), publicBaseURL: publicURL,
            host: http.host, port: http.resolvedPort(default: 8080), server: try http.resolvedServerSettings(),
            createRateLimit: .init(perSecond: createRateLimit, burst: createRateBurst),
            requestLogLevel: try http.resolvedRequestLogLevel(default: .info),
            liveness: { [producer.fatalProblem, countsConsumer.fatalProblem].compactMap { $0 } }, logger: logger
        )
        try await ServiceRunner.run(
            [client, producer, countsConsumer, app], shutdownTimeout: .seconds(common.shutdownTimeout), logger: logger)
    }
}

/// Composes the master's HTTP application; `main` and the tests both call it.
enum MasterApplication {
    static func build(
        repository: LinkRepository, publicBaseURL: String, host: String, port: Int, server: HTTPServerSettings = .init(),
        createRateLimit: RateLimiter.Settings, requestLogLevel: Logger.Level = .info,
        liveness: @escaping HealthController.LivenessCheck = { [] }, logger: Logger
    ) -> some ApplicationProtocol {
        let keys = APIKeyGuard(
            store: APIKeyStore(client: repository.client, breaker: repository.breaker, logger: logger))
        let router = ServiceRouter.make(
            breakers: [repository.breaker], requestLogLevel: requestLogLevel,
            readiness: { await repository.client.readinessProblems(through: repository.breaker, logger: logger) },
            liveness: liveness)
        CreateLinkController(
            repository: repository, keys: keys, limiter: RateLimiter(settings: createRateLimit),
            publicBaseURL: publicBaseURL
        ).addRoutes(to: router)
        LinksAPIController(repository: repository).addRoutes(
            to: router.group("api").add(middleware: APIKeyMiddleware(keys: keys)))
        return Application(
            router: router, server: server.serverBuilder,
            configuration: server.configuration(host: host, port: port, logger: logger), logger: logger)
    }
}
