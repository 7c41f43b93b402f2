import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import SharedConfiguration
import SharedKafka
import SharedPasswords
import SharedRedis
import SharedResilience
import SharedService

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
        /// Settings of its clients: `replica-links`, `replica-counts`, `replica-visits` and
        /// `dead-letters`.
        var clients: KafkaClientSettings
        /// Time between reports of moved click totals.
        var clickReportInterval: Duration
        /// Most codes per second the periodic click reports send.
        var clickReportRate = ClickReporter.Settings().codesPerSecond
        /// Most distinct values one link records per dimension on this replica.
        var statsMaximumValues = ClickLedger.defaultMaximumValues
        /// Where the GeoIP country databases are.
        var geoIPDirectory = CountryLookup.defaultDirectory
        /// Where and how redirects are served (request log lines at `debug` by default:
        /// redirects are many).
        var http: HTTPServerSettings
        /// The default domain's host (`SHORTENER_PUBLIC_URL`'s), if known.
        var defaultHost: String?
        /// Whether a `Host` that names no known domain gets `404` instead of the default domain.
        var strictHosts = false
        /// How long browsers and proxies may keep a permanent (301, 308) redirect.
        var permanentRedirectCacheSeconds = 3600
        /// Whether every answered visit is published to `<ns>-visits`.
        var visits = true
        /// Whether `GET /<code>` is answered ahead of the HTTP codec and the router (``FastRedirects``).
        var fastPath = true
        /// Most password checks started a second (``PasswordWorkers/checking(perSecond:)``).
        var passwordChecksPerSecond = PasswordWorkers.defaultChecksPerSecond
        /// The time redirect rules are decided at (`after`, `before`): the system's, or a test's.
        var clock: @Sendable () -> Date = { Date() }
    }

    let store: LinkStore
    /// This process's claim on its Redis: ``acquireLease()`` before the services run.
    let lease: ReplicaLease
    let consumer: KafkaConsumer
    let reporter: ClickReporter
    /// Everything to run, in start order; a `ServiceGroup` stops them in reverse: HTTP first, then
    /// the final click report, the Redis watch, the consumer (which may be dead-lettering), the
    /// visits staged for sending, and last the producers' flushes (visits among them).
    let services: [any Service]

    init(configuration: Configuration, redis connection: RedisConnection, logger: Logger) throws {
        let namespace = configuration.namespace
        let redis = GuardedRedis(connection, breaker: .redis(logger: logger))
        let kafka = CircuitBreaker.kafka(logger: logger)
        let store = LinkStore(
            redis: redis, namespace: namespace,
            domains: DomainTable(defaultHost: configuration.defaultHost, strictHosts: configuration.strictHosts),
            maximumValues: configuration.statsMaximumValues)
        let countries = CountryLookup(directory: configuration.geoIPDirectory)
        if !countries.isAvailable {
            logger.warning(
                "No GeoIP country database: every click's country is 'unknown'; install geoip-database",
                metadata: ["geoip.directory": "\(configuration.geoIPDirectory)"])
        }
        let feed = try LinkFeed(
            namespace: namespace, replicaID: configuration.replicaID, kafkaBrokers: configuration.kafkaBrokers,
            clients: configuration.clients, store: store, kafka: kafka, logger: logger)
        let (deadLetterProducer, consumer) = (feed.producer, feed.consumer)
        let countsProducer = try KafkaProducer(
            settings: KafkaProducerSettings(
                bootstrapServers: configuration.kafkaBrokers, clientSettings: configuration.clients[.replicaCounts]),
            logger: logger)
        let visits = try VisitRecorder(
            enabled: configuration.visits, namespace: namespace, replicaID: configuration.replicaID,
            kafkaBrokers: configuration.kafkaBrokers, clientSettings: configuration.clients[.replicaVisits],
            logger: logger)
        let ledger = ClickLedger(
            redis: redis, namespace: namespace, maximumValues: configuration.statsMaximumValues)
        let reporter = ClickReporter(
            ledger: ledger, producer: countsProducer, kafka: kafka,
            namespace: namespace,
            replicaID: configuration.replicaID,
            settings: .init(
                interval: configuration.clickReportInterval, codesPerSecond: configuration.clickReportRate),
            logger: logger)
        // Kafka's breaker stays out of readiness: redirects work without Kafka (counts wait in Redis).
        let router = ServiceRouter.make(
            breakers: [redis.breaker], requestLogLevel: configuration.http.requestLogLevel,
            readiness: { Self.readinessProblems(of: consumer) },
            liveness: {
                [
                    countsProducer.fatalProblem, deadLetterProducer.fatalProblem, consumer.fatalProblem,
                    visits.producer?.fatalProblem,
                ].compactMap { $0 }
            })
        let redirects = RedirectController(
            store: store, reporter: reporter, isCatchingUp: { !consumer.isCaughtUp }, countries: countries,
            trustedProxies: configuration.http.trustedProxies,
            permanentCacheSeconds: configuration.permanentRedirectCacheSeconds, now: configuration.clock,
            visits: visits, passwordChecks: .checking(perSecond: configuration.passwordChecksPerSecond),
            logger: logger)
        redirects.addRoutes(to: router)
        let app: any Service =
            configuration.fastPath
            ? configuration.http.server(router: router, fastPath: FastRedirects(controller: redirects), logger: logger)
            : configuration.http.application(router: router, logger: logger)
        let lease = ReplicaLease(redis: redis, keys: store.keys, replicaID: configuration.replicaID)
        self.store = store
        self.lease = lease
        self.consumer = consumer
        self.reporter = reporter
        let watch = RedisStateWatch(store: store, ledger: ledger, consumer: consumer, lease: lease, logger: logger)
        let visitServices: [(any Service)?] = [visits.producer, visits.sender]
        self.services =
            [countsProducer, deadLetterProducer] + visitServices.compactMap { $0 } + [consumer, watch, reporter, app]
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
