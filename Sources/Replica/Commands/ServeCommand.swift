import Foundation
import ArgumentParser
import Logging
import SharedConfiguration
import SharedKafka
import SharedLinks
import SharedPasswords
import SharedRedis
import SharedService

/// `replica serve`: the consumer, the click reporter and the redirect server (the default).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Fill Redis from the links topic and serve redirects.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var replica: ReplicaOptions
    @OptionGroup var http: HTTPOptions

    /// Seconds between reports of the click totals that moved. Default: 5.
    /// Environment: `SHORTENER_CLICK_REPORT_INTERVAL`.
    @Option(help: "Seconds between reports of moved click totals (env SHORTENER_CLICK_REPORT_INTERVAL).")
    var clickReportInterval: Double = EnvironmentDefaults.double("SHORTENER_CLICK_REPORT_INTERVAL", 5)

    /// Most codes per second the periodic click reports send; under a load that moves more
    /// codes, each code is reported less often than every interval. Default: 500.
    /// Environment: `SHORTENER_CLICK_REPORT_RATE`.
    @Option(help: "Most codes per second the click reports send (env SHORTENER_CLICK_REPORT_RATE).")
    var clickReportRate: Int = EnvironmentDefaults.int(
        "SHORTENER_CLICK_REPORT_RATE", ClickReporter.Settings().codesPerSecond)

    /// Most distinct values a link records per dimension (referrer, country, device, browser,
    /// OS) on this replica; the rest count as `other`. Default: 100.
    /// Environment: `SHORTENER_STATS_MAX_KEYS`.
    @Option(help: "Most values per link and dimension; the rest count as 'other' (env SHORTENER_STATS_MAX_KEYS).")
    var statsMaxKeys: Int = EnvironmentDefaults.int("SHORTENER_STATS_MAX_KEYS", ClickLedger.defaultMaximumValues)

    /// Folder with the GeoIP country databases (`GeoIP.dat`, `GeoIPv6.dat`).
    /// Default: `/usr/share/GeoIP` (Debian's geoip-database). Environment: `SHORTENER_GEOIP_DIR`.
    @Option(help: "Folder with GeoIP.dat and GeoIPv6.dat (env SHORTENER_GEOIP_DIR).")
    var geoipDir: String = EnvironmentDefaults.string("SHORTENER_GEOIP_DIR", CountryLookup.defaultDirectory)

    /// Where short URLs of the default domain point: its host is the default domain's, which
    /// strict hosts need. The master's setting of the same name. Default: `http://localhost:8081`.
    /// Environment: `SHORTENER_PUBLIC_URL`.
    @Option(help: "The master's public URL, naming the default domain (env SHORTENER_PUBLIC_URL).")
    var publicURL: String = EnvironmentDefaults.string("SHORTENER_PUBLIC_URL", "http://localhost:8081")

    /// Answer `404` to a `Host` that names neither the default domain nor an added one, instead
    /// of serving the default domain's links. Default: off. Environment: `SHORTENER_STRICT_HOSTS`.
    @Flag(inversion: .prefixedNo, help: "404 for a Host that names no known domain (env SHORTENER_STRICT_HOSTS=1).")
    var strictHosts: Bool = EnvironmentDefaults.bool("SHORTENER_STRICT_HOSTS", false)

    /// Seconds browsers and proxies may keep a permanent (301, 308) redirect; such a link's
    /// later clicks may then never reach a replica. Default: 3600.
    /// Environment: `SHORTENER_REDIRECT_CACHE_SECONDS`.
    @Option(help: "Seconds a 301/308 redirect may be cached (env SHORTENER_REDIRECT_CACHE_SECONDS).")
    var redirectCacheSeconds: Int = EnvironmentDefaults.int("SHORTENER_REDIRECT_CACHE_SECONDS", 3600)

    /// Publish every answered visit (redirects, `404`s, `410`s, password forms) to
    /// `<ns>-visits`, at most once and never waited for. Default: on.
    /// Environment: `SHORTENER_VISITS` (`off` turns them off).
    @Option(help: "Publish every visit to the visits topic: on or off (env SHORTENER_VISITS).")
    var visits: String = EnvironmentDefaults.string("SHORTENER_VISITS", "on")

    /// Answer `GET /<code>` ahead of the HTTP codec and the router, with a lean HTTP path of
    /// its own; every other request, and every visit that is not a redirect, goes to the
    /// router. Default: on.
    /// Environment: `SHORTENER_FAST_PATH` (`off`: the router answers every request).
    @Option(help: "Answer redirects ahead of the HTTP codec and the router: on or off (env SHORTENER_FAST_PATH).")
    var fastPath: String = EnvironmentDefaults.string("SHORTENER_FAST_PATH", "on")

    /// Most password checks (argon2id, about 35 ms of a core each) started a second: what a
    /// flood of wrong passwords can take from the redirects; past it, a post answers `503` with
    /// `Retry-After: 1`. 0.1 to 1000, default 2. Environment: `SHORTENER_PASSWORD_CHECKS_PER_SECOND`.
    @Option(help: "Most password checks started a second (env SHORTENER_PASSWORD_CHECKS_PER_SECOND).")
    var passwordChecksPerSecond: Double = EnvironmentDefaults.double(
        "SHORTENER_PASSWORD_CHECKS_PER_SECOND", PasswordWorkers.defaultChecksPerSecond)

    /// The default domain's host, from ``publicURL``.
    var defaultHost: String? {
        URLComponents(string: publicURL)?.host.flatMap { try? DomainName.normalized($0) }
    }

    func validate() throws {
        guard ["on", "off"].contains(visits) else { throw ValidationError("--visits must be on or off") }
        guard ["on", "off"].contains(fastPath) else { throw ValidationError("--fast-path must be on or off") }
        guard (0...31_536_000).contains(redirectCacheSeconds) else {
            throw ValidationError("--redirect-cache-seconds must be 0 to 31536000 (a year)")
        }
        guard URLComponents(string: publicURL)?.host != nil else {
            throw ValidationError("--public-url must be an absolute URL, e.g. https://acme.link")
        }
        try validateSeconds(clickReportInterval, in: 0.1...3600, option: "--click-report-interval")
        guard (1...1_000_000).contains(clickReportRate) else {
            throw ValidationError("--click-report-rate must be 1 to 1000000")
        }
        guard (1...1000).contains(statsMaxKeys) else { throw ValidationError("--stats-max-keys must be 1 to 1000") }
        guard (0.1...1000).contains(passwordChecksPerSecond) else {
            throw ValidationError("--password-checks-per-second must be 0.1 to 1000")
        }
    }

    func run() async throws {
        let logger = try Observability.bootstrap(service: "replica", options: common)
            .with(metadata: "replica.id", "\(replica.replicaID)")
        let namespace = try common.resolvedNamespace()
        let redis = replica.connectRedis(logger: logger)
        defer { redis.close() }
        let application = try ReplicaApplication(
            configuration: .init(
                namespace: namespace, replicaID: replica.replicaID, kafkaBrokers: common.kafkaBrokers,
                clients: try KafkaClientSettings.load(from: common.topicsDir),
                clickReportInterval: .seconds(clickReportInterval),
                clickReportRate: clickReportRate, statsMaximumValues: statsMaxKeys,
                geoIPDirectory: geoipDir,
                http: try http.resolvedServerSettings(defaultPort: 8081), defaultHost: defaultHost,
                strictHosts: strictHosts, permanentRedirectCacheSeconds: redirectCacheSeconds,
                visits: visits == "on", fastPath: fastPath == "on", passwordChecksPerSecond: passwordChecksPerSecond),
            redis: redis, logger: logger)
        // Before anything reads or counts: a second process on this Redis would count every click twice.
        try await application.lease.acquire()
        try await ServiceRunner.run(
            application.services, shutdownTimeout: .seconds(common.shutdownTimeout), logger: logger)
    }
}
