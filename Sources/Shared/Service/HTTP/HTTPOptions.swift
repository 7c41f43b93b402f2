import ArgumentParser
import Logging
import SharedConfiguration

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

    /// Seconds a connection may stay silent before it is closed. Default: 60.
    /// Environment: `SHORTENER_HTTP_IDLE_TIMEOUT`.
    @Option(
        name: .customLong("http-idle-timeout"),
        help: "Seconds before a silent connection is closed (env SHORTENER_HTTP_IDLE_TIMEOUT).")
    public var idleTimeout: Double = EnvironmentDefaults.double("SHORTENER_HTTP_IDLE_TIMEOUT", 60)

    /// Seconds a client has to send a whole request head, from connecting or from the previous
    /// answer. Default: 10. Environment: `SHORTENER_HTTP_HEADER_TIMEOUT`.
    @Option(
        name: .customLong("http-header-timeout"),
        help: "Seconds to send a request's head (env SHORTENER_HTTP_HEADER_TIMEOUT).")
    public var headerTimeout: Double = EnvironmentDefaults.double("SHORTENER_HTTP_HEADER_TIMEOUT", 10)

    /// Connections held at once (at most three quarters of the open-file limit). Default: 4096.
    /// Environment: `SHORTENER_HTTP_MAX_CONNECTIONS`.
    @Option(
        name: .customLong("http-max-connections"),
        help: "Connections held at once (env SHORTENER_HTTP_MAX_CONNECTIONS).")
    public var maxConnections: Int = EnvironmentDefaults.int("SHORTENER_HTTP_MAX_CONNECTIONS", 4096)

    /// Proxies whose `X-Forwarded-For` is believed, as CIDRs. Default: none.
    /// Environment: `SHORTENER_TRUSTED_PROXIES`.
    @Option(help: "CIDRs of proxies whose X-Forwarded-For is believed (env SHORTENER_TRUSTED_PROXIES).")
    public var trustedProxies: String = EnvironmentDefaults.string("SHORTENER_TRUSTED_PROXIES", "")

    public init() {}

    /// Whether the server listens on this machine's loopback only (`127.0.0.0/8`, `::1`, `localhost`).
    public var bindsLoopbackOnly: Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    /// The server's settings, checked: timeouts 0.1 s to 1 h, 1 to 1,000,000 connections. The
    /// port is the flag, else `SHORTENER_HTTP_PORT`, else `defaultPort`; the request log level the
    /// flag, else `SHORTENER_REQUEST_LOG_LEVEL`, else `defaultLogLevel`.
    public func resolvedServerSettings(defaultPort: Int, defaultLogLevel: Logger.Level = .debug) throws
        -> HTTPServerSettings
    {
        let timeouts = 0.1...3600.0
        guard timeouts.contains(idleTimeout), timeouts.contains(headerTimeout) else {
            throw SettingError("the HTTP idle and header timeouts must be 0.1 to 3600 seconds")
        }
        guard (1...1_000_000).contains(maxConnections) else {
            throw SettingError("the HTTP connection cap must be 1 to 1000000")
        }
        let port = port ?? EnvironmentDefaults.int("SHORTENER_HTTP_PORT", defaultPort)
        guard (0...65535).contains(port) else { throw SettingError("the HTTP port must be 0 to 65535") }
        var settings = HTTPServerSettings(
            host: host, port: port, requestLogLevel: try resolvedRequestLogLevel(default: defaultLogLevel))
        settings.idleTimeout = .milliseconds(Int64(idleTimeout * 1000))
        settings.headerTimeout = .milliseconds(Int64(headerTimeout * 1000))
        settings.maximumConnections = maxConnections
        settings.trustedProxies = try TrustedProxies(parsing: trustedProxies)
        return settings
    }

    /// The level of request log lines: the flag, else `SHORTENER_REQUEST_LOG_LEVEL`, else `defaultLevel`.
    func resolvedRequestLogLevel(default defaultLevel: Logger.Level) throws -> Logger.Level {
        guard let name = requestLogLevel ?? EnvironmentDefaults.optionalString("SHORTENER_REQUEST_LOG_LEVEL") else {
            return defaultLevel
        }
        return try Logger.Level(named: name, for: "request log level")
    }
}
