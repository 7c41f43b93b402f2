import ArgumentParser
import Hummingbird
import Logging
import PostgresNIO
import SharedConfiguration
import SharedKafka
import SharedPostgres
import SharedResilience
import SharedService

/// `master serve`: the HTTP API.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve the HTTP API (the default).")

    @OptionGroup var common: CommonOptions
    @OptionGroup var postgres: PostgresOptions
    @OptionGroup var http: HTTPOptions

    /// Base of the `short_url` answers: where the replicas serve redirects.
    /// Default: `http://localhost:8081`. Environment: `SHORTENER_PUBLIC_URL`.
    @Option(help: "Base of returned short URLs, where replicas serve redirects (env SHORTENER_PUBLIC_URL).")
    var publicURL: String = ShortDomains.configuredPublicBaseURL

    /// Creates per second allowed to each API key (or client address without keys); 0 turns
    /// the limit off. Default: 20. Environment: `SHORTENER_CREATE_RATE_LIMIT`.
    @Option(help: "Creates per second per API key or client address; 0: no limit (env SHORTENER_CREATE_RATE_LIMIT).")
    var createRateLimit: Double = EnvironmentDefaults.double("SHORTENER_CREATE_RATE_LIMIT", 20)

    /// Creates a client may make at once after being idle. Default: 40.
    /// Environment: `SHORTENER_CREATE_RATE_BURST`.
    @Option(help: "Creates allowed at once after a pause (env SHORTENER_CREATE_RATE_BURST).")
    var createRateBurst: Double = EnvironmentDefaults.double("SHORTENER_CREATE_RATE_BURST", 40)

    /// Days a click hour keeps its hourly detail before it folds into its day. Default: 90.
    /// Environment: `SHORTENER_STATS_HOURLY_DAYS`.
    @Option(help: "Days click hours stay hourly before folding into days (env SHORTENER_STATS_HOURLY_DAYS).")
    var statsHourlyDays: Int = EnvironmentDefaults.int(
        "SHORTENER_STATS_HOURLY_DAYS", ClickHourFolding.defaultHourlyDays)

    /// Hours an `Idempotency-Key` is remembered; a retry after them is a new request.
    /// Default: 24. Environment: `SHORTENER_IDEMPOTENCY_HOURS`.
    @Option(help: "Hours an Idempotency-Key is remembered (env SHORTENER_IDEMPOTENCY_HOURS).")
    var idempotencyHours: Int = EnvironmentDefaults.int("SHORTENER_IDEMPOTENCY_HOURS", 24)

    /// Folder of the web app served at `/` (`index.html` and its files); empty serves no app.
    /// Default: `web` (relative to the working directory). Environment: `SHORTENER_WEB_DIR`.
    @Option(help: "Folder of the web app served at / ; empty: no app (env SHORTENER_WEB_DIR).")
    var webDir: String = EnvironmentDefaults.string("SHORTENER_WEB_DIR", "web")

    /// Serve the API with no API key on an address beyond loopback, where anyone who reaches it
    /// may create, list, edit and delete links. Without it the master refuses to start there until
    /// a key exists (`master keys create`). Default: false. Environment: `SHORTENER_ALLOW_OPEN_API`.
    @Flag(
        inversion: .prefixedNo, help: "Serve without any API key beyond loopback (env SHORTENER_ALLOW_OPEN_API=true).")
    var allowOpenAPI: Bool = EnvironmentDefaults.bool("SHORTENER_ALLOW_OPEN_API", false)

    /// Give a link created without a title its target page's `<title>`, fetched in the
    /// background (public addresses only, `--fetch-titles-timeout`, 256 KiB). Default: false. Environment:
    /// `SHORTENER_FETCH_TITLES`.
    @Flag(inversion: .prefixedNo, help: "Fetch the titles of new links' pages (env SHORTENER_FETCH_TITLES=true).")
    var fetchTitles: Bool = EnvironmentDefaults.bool("SHORTENER_FETCH_TITLES", false)

    /// Fetch titles from targets on loopback, private and link-local addresses too (local
    /// set-ups and tests). Default: false. Environment: `SHORTENER_FETCH_TITLES_ALLOW_PRIVATE`.
    @Flag(
        inversion: .prefixedNo,
        help: "Fetch titles from loopback and private addresses too (env SHORTENER_FETCH_TITLES_ALLOW_PRIVATE=true).")
    var fetchTitlesAllowPrivate: Bool = EnvironmentDefaults.bool("SHORTENER_FETCH_TITLES_ALLOW_PRIVATE", false)

    /// Longest one title fetch may take, redirects included, in seconds (0.1 to 30). Default: 2.
    /// Environment: `SHORTENER_FETCH_TITLES_TIMEOUT`.
    @Option(help: "Seconds a title fetch may take (env SHORTENER_FETCH_TITLES_TIMEOUT).")
    var fetchTitlesTimeout: Double = EnvironmentDefaults.double("SHORTENER_FETCH_TITLES_TIMEOUT", 2)

    /// Most live visit streams (`GET /api/links/<code>/visits/live`) open at once; more are
    /// answered `503`. Default: 100. Environment: `SHORTENER_VISIT_STREAMS`.
    @Option(help: "Most live visit streams open at once (env SHORTENER_VISIT_STREAMS).")
    var visitStreams: Int = EnvironmentDefaults.int("SHORTENER_VISIT_STREAMS", 100)

    /// Most live visit streams one API key holds at once; more are answered `429`, so that one
    /// key cannot take every stream. Default: 10. Environment: `SHORTENER_VISIT_STREAMS_PER_KEY`.
    @Option(help: "Most live visit streams of one API key at once (env SHORTENER_VISIT_STREAMS_PER_KEY).")
    var visitStreamsPerKey: Int = EnvironmentDefaults.int("SHORTENER_VISIT_STREAMS_PER_KEY", 10)

    func validate() throws {
        guard (1...10_000).contains(visitStreams) else { throw ValidationError("--visit-streams must be 1 to 10000") }
        guard (1...10_000).contains(visitStreamsPerKey) else {
            throw ValidationError("--visit-streams-per-key must be 1 to 10000")
        }
        guard (0.1...30).contains(fetchTitlesTimeout) else {
            throw ValidationError("--fetch-titles-timeout must be 0.1 to 30 seconds")
        }
        guard createRateLimit >= 0, createRateBurst >= 1 else {
            throw ValidationError("--create-rate-limit must be 0 or more and --create-rate-burst at least 1")
        }
        guard (2...3650).contains(statsHourlyDays) else {
            throw ValidationError("--stats-hourly-days must be 2 to 3650")
        }
        guard (1...720).contains(idempotencyHours) else {
            throw ValidationError("--idempotency-hours must be 1 to 720")
        }
    }

    func run() async throws {
        let logger = try Observability.bootstrap(service: "master", options: common)
        let namespace = try common.resolvedNamespace()
        try await refuseAnOpenAPIBeyondLoopback(namespace: namespace, logger: logger)
        let master = try MasterApplication(
            configuration: .init(
                namespace: namespace, kafkaBrokers: common.kafkaBrokers,
                clients: try KafkaClientSettings.load(from: common.topicsDir),
                postgres: postgres.endpoint(namespace: namespace), publicBaseURL: publicURL,
                http: try http.resolvedServerSettings(defaultPort: 8080, defaultLogLevel: .info),
                createRateLimit: .init(perSecond: createRateLimit, burst: createRateBurst),
                statsHourlyDays: statsHourlyDays, webDirectory: webDir.isEmpty ? nil : webDir,
                idempotencyRetention: .seconds(3600 * idempotencyHours),
                titleFetching: fetchTitles
                    ? .init(allowsPrivateAddresses: fetchTitlesAllowPrivate, timeout: .seconds(fetchTitlesTimeout))
                    : nil,
                maximumVisitStreams: visitStreams, maximumVisitStreamsPerKey: visitStreamsPerKey,
                postgresBreaker: try postgres.breakerSettings()),
            logger: logger)
        try await ServiceRunner.run(
            master.services, shutdownTimeout: .seconds(common.shutdownTimeout), logger: logger)
    }

    /// Until the first API key exists every caller is let in (a fresh install works at once);
    /// that is safe on loopback only. Bound beyond it, the master starts only once a key exists,
    /// or when told to with ``allowOpenAPI``.
    private func refuseAnOpenAPIBeyondLoopback(namespace: Namespace, logger: Logger) async throws {
        guard !allowOpenAPI, !http.bindsLoopbackOnly else { return }
        let keysExist = try await PostgresClient.withRunning(
            try postgres.clientConfiguration(namespace: namespace), logger: logger
        ) { client in
            try await APIKeyStore(
                client: client, breaker: .postgres(settings: try postgres.breakerSettings(), logger: logger),
                logger: logger
            ).activeKeys()
                .required
        }
        guard keysExist else {
            throw SettingError(
                """
                no API key exists, and the master would listen on \(http.host): anyone reaching it could create, \
                list, edit and delete links. Create a key first (master keys create --name <name>), bind to \
                127.0.0.1, or set SHORTENER_ALLOW_OPEN_API=true to serve an open API on purpose
                """)
        }
    }
}
