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
        subcommands: [Serve.self, Migrate.self, Tail.self, Backfill.self, Topics.self],
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
            host: http.host, port: http.resolvedPort(default: 8080),
            requestLogLevel: try http.resolvedRequestLogLevel(default: .info), logger: logger
        )
        try await ServiceRunner.run(
            [client, producer, countsConsumer, app], shutdownTimeout: .seconds(common.shutdownTimeout), logger: logger)
    }
}

/// Composes the master's HTTP application; `main` and the tests both call it.
enum MasterApplication {
    static func build(
        repository: LinkRepository, publicBaseURL: String, host: String, port: Int,
        requestLogLevel: Logger.Level = .info, logger: Logger
    ) -> some ApplicationProtocol {
        let router = ServiceRouter.make(breakers: [repository.breaker], requestLogLevel: requestLogLevel) {
            await repository.client.readinessProblems(through: repository.breaker, logger: logger)
        }
        CreateLinkController(repository: repository, publicBaseURL: publicBaseURL).addRoutes(to: router)
        LinksAPIController(repository: repository).addRoutes(to: router)
        return Application(router: router, configuration: .init(address: .hostname(host, port: port)), logger: logger)
    }
}
