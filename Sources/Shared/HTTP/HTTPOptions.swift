import ArgumentParser
import Logging

/// Where a service's HTTP server listens.
public struct HTTPOptions: ParsableArguments, Sendable {
    /// Address to bind. Default: `127.0.0.1`. Environment: `SHORTENER_HTTP_HOST`.
    @Option(name: .customLong("http-host"), help: "Address to bind (env SHORTENER_HTTP_HOST).")
    public var host: String = EnvironmentDefaults.string("SHORTENER_HTTP_HOST", "127.0.0.1")

    /// Port to bind; 0 picks a free one. Default: the service's own. Environment: `SHORTENER_HTTP_PORT`.
    @Option(name: .customLong("http-port"), help: "Port to bind (env SHORTENER_HTTP_PORT).")
    public var port: Int?

    /// Level of the one log line per request. Default: the service's own (`info` on the master,
    /// `debug` on replicas and health ports). Environment: `SHORTENER_REQUEST_LOG_LEVEL`.
    @Option(help: "Level of the per-request log line (env SHORTENER_REQUEST_LOG_LEVEL).")
    public var requestLogLevel: String?

    public init() {}

    /// The level of request log lines: the flag, else `SHORTENER_REQUEST_LOG_LEVEL`, else `defaultLevel`.
    public func resolvedRequestLogLevel(default defaultLevel: Logger.Level) throws -> Logger.Level {
        guard let name = requestLogLevel ?? EnvironmentDefaults.optionalString("SHORTENER_REQUEST_LOG_LEVEL") else {
            return defaultLevel
        }
        guard let level = Logger.Level(rawValue: name.lowercased()) else {
            throw SettingError(
                "request log level '\(name)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }

    /// The port to bind: the flag, else `SHORTENER_HTTP_PORT`, else `defaultPort`.
    public func resolvedPort(default defaultPort: Int) -> Int {
        port ?? EnvironmentDefaults.int("SHORTENER_HTTP_PORT", defaultPort)
    }
}
