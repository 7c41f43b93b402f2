import ArgumentParser
import Logging

/// Settings every service takes: namespace, Kafka, topics folder and logging.
public struct CommonOptions: ParsableArguments, Sendable {
    /// Prefix of topics, consumer groups, Redis keys and the database name.
    /// Default: `shortener`. Environment: `SHORTENER_NAMESPACE`.
    @Option(help: "Prefix of topics, consumer groups, Redis keys and the database (env SHORTENER_NAMESPACE).")
    public var namespace: String = EnvironmentDefaults.string("SHORTENER_NAMESPACE", "shortener")

    /// Kafka bootstrap servers, comma separated. Default: `127.0.0.1:9092`.
    /// Environment: `SHORTENER_KAFKA_BROKERS`.
    @Option(help: "Kafka bootstrap servers, comma separated (env SHORTENER_KAFKA_BROKERS).")
    public var kafkaBrokers: String = EnvironmentDefaults.string("SHORTENER_KAFKA_BROKERS", "127.0.0.1:9092")

    /// Folder with one `.properties` file per topic. Default: `topics`.
    /// Environment: `SHORTENER_TOPICS_DIR`.
    @Option(help: "Folder with the topic definitions (env SHORTENER_TOPICS_DIR).")
    public var topicsDir: String = EnvironmentDefaults.string("SHORTENER_TOPICS_DIR", "topics")

    /// The OpenAPI document every HTTP server serves at `/openapi.yaml`. Default: `openapi.yaml`.
    /// Environment: `SHORTENER_OPENAPI_FILE`.
    @Option(help: "The OpenAPI document served at /openapi.yaml (env SHORTENER_OPENAPI_FILE).")
    public var openapiFile: String = EnvironmentDefaults.string("SHORTENER_OPENAPI_FILE", "openapi.yaml")

    /// Lowest level that is logged. Default: `info`. Environment: `SHORTENER_LOG_LEVEL`.
    @Option(help: "trace, debug, info, notice, warning, error or critical (env SHORTENER_LOG_LEVEL).")
    public var logLevel: String = EnvironmentDefaults.string("SHORTENER_LOG_LEVEL", "info")

    /// File that receives the same log lines as the terminal; none when empty.
    /// Default: none. Environment: `SHORTENER_LOG_FILE`.
    @Option(help: "File that receives a copy of every log line; none when empty (env SHORTENER_LOG_FILE).")
    public var logFile: String = EnvironmentDefaults.string("SHORTENER_LOG_FILE", "")

    /// Seconds a graceful shutdown may take before the stop is forced. Default: 10.
    /// Environment: `SHORTENER_SHUTDOWN_TIMEOUT`.
    @Option(help: "Seconds a graceful shutdown may take before it is forced (env SHORTENER_SHUTDOWN_TIMEOUT).")
    public var shutdownTimeout: Double = EnvironmentDefaults.double("SHORTENER_SHUTDOWN_TIMEOUT", 10)

    public init() {}

    /// The validated namespace.
    public func resolvedNamespace() throws -> Namespace { try Namespace(namespace) }

    /// The validated log level.
    public func resolvedLogLevel() throws -> Logger.Level {
        try Logger.Level(named: logLevel, for: "log level")
    }

    public mutating func validate() throws {
        let unreadable = EnvironmentDefaults.unreadable
        guard unreadable.isEmpty else { throw ValidationError(unreadable.joined(separator: "; ")) }
        _ = try resolvedNamespace()
        _ = try resolvedLogLevel()
        try validateSeconds(shutdownTimeout, in: 0.1...3600, option: "--shutdown-timeout")
    }
}

/// Throws a `ValidationError` naming `option` unless `seconds` lies in `range`: a setting in
/// seconds becomes a `Duration`, which an infinite, NaN or astronomically large value would trap
/// on at start.
public func validateSeconds(_ seconds: Double, in range: ClosedRange<Double>, option: String) throws {
    guard range.contains(seconds) else {
        throw ValidationError("\(option) must be \(range.lowerBound) to \(range.upperBound) seconds")
    }
}
