import ArgumentParser

/// Where a service's HTTP server listens.
public struct HTTPOptions: ParsableArguments, Sendable {
    /// Address to bind. Default: `127.0.0.1`. Environment: `SHORTENER_HTTP_HOST`.
    @Option(name: .customLong("http-host"), help: "Address to bind (env SHORTENER_HTTP_HOST).")
    public var host: String = EnvironmentDefaults.string("SHORTENER_HTTP_HOST", "127.0.0.1")

    /// Port to bind; 0 picks a free one. Default: the service's own. Environment: `SHORTENER_HTTP_PORT`.
    @Option(name: .customLong("http-port"), help: "Port to bind (env SHORTENER_HTTP_PORT).")
    public var port: Int?

    public init() {}

    /// The port to bind: the flag, else `SHORTENER_HTTP_PORT`, else `defaultPort`.
    public func resolvedPort(default defaultPort: Int) -> Int {
        port ?? EnvironmentDefaults.int("SHORTENER_HTTP_PORT", defaultPort)
    }
}
