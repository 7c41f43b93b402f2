import Hummingbird
import Logging
import NIOPosix
import PostgresNIO
import ServiceLifecycle
import SharedConfiguration
import SharedKafka
import SharedPostgres
import SharedResilience
import SharedService

/// The master's parts, composed in one place from a ``Configuration``: `main` and the tests
/// build it the same way. The Postgres pool, the dead-letter producer, the click aggregator's
/// consumer, the HTTP API and the web app, and the title fetcher when it is on.
struct MasterApplication {
    /// What the master needs to know.
    struct Configuration: Sendable {
        /// Prefix of topics, groups and the database.
        var namespace: Namespace
        /// Kafka bootstrap servers.
        var kafkaBrokers: String
        /// Settings of its clients: `master-counts`, `master-audit`, `master-visits` and
        /// `dead-letters`.
        var clients: KafkaClientSettings
        /// Where the database is and how to reach it.
        var postgres: PostgresEndpoint
        /// Base of the `short_url` answers: where the replicas serve redirects.
        var publicBaseURL: String
        /// Where and how the HTTP API listens.
        var http: HTTPServerSettings
        /// Creates allowed per API key or client address.
        var createRateLimit: RateLimiter.Settings
        /// Days a click hour stays an hour before it folds into its day.
        var statsHourlyDays = ClickHourFolding.defaultHourlyDays
        /// The web app's files, served at `/`; nil serves no app.
        var webDirectory: String?
        /// How long an `Idempotency-Key` is remembered.
        var idempotencyRetention = IdempotencyPruning.defaultRetention
        /// How the titles of links created without one are fetched from their pages; nil: they
        /// are not.
        var titleFetching: TitleFetcher.Settings?
        /// Most live visit streams open at once.
        var maximumVisitStreams = 100
        /// Most live visit streams of one API key open at once.
        var maximumVisitStreamsPerKey = 10
        /// The settings of the breaker in front of Postgres; its call timeout bounds each
        /// statement of the API and of the group commit.
        var postgresBreaker = CircuitBreaker.Settings()
    }

    /// The Postgres pool (a service of ``services``).
    let postgres: PostgresClient
    /// Links and their outbox rows, behind the Postgres breaker.
    let repository: PostgresLinkRepository
    /// The group commit of `POST /create`, on a connection of its own (a service of
    /// ``backgroundServices``).
    let createWriter: CreateGroupCommit
    /// The HTTP API; the tests drive its router without a socket.
    let http: Application<RouterResponder<AppRequestContext>>
    /// Each key's last use, written once a minute.
    let keyUsage: KeyUsageRecorder
    /// Everything but the HTTP server, in start order: what a test runs to drive ``http``'s
    /// router directly.
    let backgroundServices: [any Service]
    /// Everything to run, in start order; a `ServiceGroup` stops them in reverse: HTTP first,
    /// then the aggregator, the dead-letter producer's flush, the group commit's writer (which
    /// writes what is still queued) and its connection, and last the Postgres pool.
    var services: [any Service] { backgroundServices + [http] }

    /// The loop of the master's Postgres connections: a thread of their own, shared by every
    /// application in the process. The group commit's writer and its connection run on it too,
    /// so a flush goes to Postgres and back without queueing behind HTTP work on a shared loop.
    static let postgresLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1).next()

    init(configuration: Configuration, logger: Logger) throws {
        let namespace = configuration.namespace
        let postgres = PostgresClient(
            configuration: configuration.postgres.client, eventLoopGroup: Self.postgresLoop, backgroundLogger: logger)
        let breaker = CircuitBreaker.postgres(settings: configuration.postgresBreaker, logger: logger)
        let deadLetters = try DeadLetterQueue(
            bootstrapServers: configuration.kafkaBrokers, clients: configuration.clients,
            breaker: .kafka(logger: logger), namespace: namespace, consumerGroup: namespace.masterGroup,
            logger: logger)
        let audit = AuditTrail(logger: logger) {
            try KafkaPartitionReader(
                bootstrapServers: configuration.kafkaBrokers, groupID: "\(namespace.name)-audit-reader",
                topic: namespace.topic(.audit), clientSettings: configuration.clients[.masterAudit], logger: logger)
        }
        let visitLog = VisitLog(logger: logger) { partition in
            try KafkaPartitionReader(
                bootstrapServers: configuration.kafkaBrokers, groupID: "\(namespace.name)-visits-reader",
                topic: namespace.visitsTopic, partition: partition,
                clientSettings: configuration.clients[.masterVisits], logger: logger)
        }
        let liveVisits = LiveVisits.following(
            namespace, brokers: configuration.kafkaBrokers, clientSettings: configuration.clients[.masterVisits],
            maximumStreams: configuration.maximumVisitStreams,
            maximumStreamsPerOwner: configuration.maximumVisitStreamsPerKey, logger: logger)
        let countsConsumer = try ClickAggregator.consumer(
            client: postgres, breaker: ClickAggregator.breaker(logger: logger), deadLetters: deadLetters,
            namespace: namespace,
            kafkaBrokers: configuration.kafkaBrokers, clients: configuration.clients,
            hourlyDays: configuration.statsHourlyDays, logger: logger)
        let repository = PostgresLinkRepository(client: postgres, breaker: breaker, logger: logger)
        let keyStore = APIKeyStore(client: postgres, breaker: breaker, logger: logger)
        let keyUsage = KeyUsageRecorder(client: postgres, breaker: breaker, logger: logger)
        let keys = APIKeyGuard(store: keyStore, usage: keyUsage)
        let router = ServiceRouter.make(
            breakers: [breaker], requestLogLevel: configuration.http.requestLogLevel,
            readiness: { await postgres.readinessProblems(through: breaker, logger: logger) },
            liveness: { [deadLetters.producer.fatalProblem, countsConsumer.fatalProblem].compactMap { $0 } })
        let admission = CreateAdmission(
            keys: keys, limiter: RateLimiter(settings: configuration.createRateLimit),
            trustedProxies: configuration.http.trustedProxies)
        let writerConnection = WriterConnection(
            endpoint: configuration.postgres, eventLoop: Self.postgresLoop, logger: logger)
        let createWriter = CreateGroupCommit(repository: repository, connection: writerConnection)
        let domains = ShortDomains(
            publicBaseURL: configuration.publicBaseURL,
            repository: PostgresDomainRepository(client: postgres, breaker: breaker, logger: logger))
        let titles = configuration.titleFetching.map {
            TitleFetcher(repository: repository, settings: $0, logger: logger)
        }
        let links = LinkRoutes(
            repository: repository, creator: createWriter, admission: admission, domains: domains, titles: titles)
        links.add(to: router)
        let statistics = ClickStatistics(client: postgres, breaker: breaker, logger: logger)
        router.addRoutes(
            links.behindKeyCheck(
                StatsController(statistics: statistics, repository: links.scoped, domains: domains).routes
                    .addRoutes(KeysController(store: keyStore, keys: keys, domains: domains).routes)
                    .addRoutes(AuditController(trail: audit).routes)
                    .addRoutes(
                        VisitsController(log: visitLog, live: liveVisits, repository: links.scoped, domains: domains)
                            .routes)),
            atPath: "api")
        if let webDirectory = configuration.webDirectory {
            router.addRoutes(WebAppController(assets: try WebAssets(directory: webDirectory)).routes)
        }
        self.postgres = postgres
        self.repository = repository
        self.createWriter = createWriter
        self.keyUsage = keyUsage
        self.http = configuration.http.application(router: router, logger: logger)
        let folding = ClickHourFolding(
            client: postgres, breaker: breaker, hourlyDays: configuration.statsHourlyDays, logger: logger)
        let pruning = IdempotencyPruning(
            client: postgres, breaker: breaker, logger: logger, retention: configuration.idempotencyRetention)
        self.backgroundServices =
            [
                postgres, KeyChangeListener(client: postgres, keys: keys, logger: logger), writerConnection,
                createWriter, deadLetters.producer, countsConsumer, folding, pruning, keyUsage, audit, visitLog,
                liveVisits,
            ]
            + (titles.map { [$0] } ?? [])
    }
}
