import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Where an HTTP server listens, how long it waits for its clients and how many it holds at
/// once (so that silent or slow sockets cannot use up its file descriptors and starve everyone
/// else), and how loudly it logs each request.
public struct HTTPServerSettings: Sendable {
    /// Address to bind. Default: `127.0.0.1`.
    public var host = "127.0.0.1"
    /// Port to bind; 0 picks a free one. Default: 0.
    public var port = 0
    /// Level of the one log line per request. Default: `debug`.
    public var requestLogLevel: Logger.Level = .debug
    /// Proxies whose `X-Forwarded-For` names the client (rate limits, click countries).
    /// Default: none.
    public var trustedProxies = TrustedProxies.none
    /// A connection with no bytes moving for this long is closed. Default: 60 s.
    public var idleTimeout: Duration = .seconds(60)
    /// Time from accepting a connection, or from finishing the previous answer on it, until a
    /// request's head (request line and headers) has fully arrived; longer and the connection is
    /// closed. This also ends idle keep-alive connections. Default: 10 s.
    public var headerTimeout: Duration = .seconds(10)
    /// Connections held at once; further ones wait in the listen backlog until one closes.
    /// Lowered at start to three quarters of the process's file-descriptor limit. Default: 4096.
    public var maximumConnections = 4096

    public init(host: String = "127.0.0.1", port: Int = 0, requestLogLevel: Logger.Level = .debug) {
        self.host = host
        self.port = port
        self.requestLogLevel = requestLogLevel
    }

    /// The server for `router`: HTTP/1 on the connections' own event loops, with these timeouts
    /// and this connection cap; `onServerRunning` learns the bound channel (its port when 0 was
    /// asked).
    public func application<Context: RequestContext>(
        router: Router<Context>, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in },
        logger: Logger
    ) -> Application<RouterResponder<Context>> {
        Application(
            router: router, server: .http1OnConnectionEventLoops(self),
            configuration: .init(
                address: .hostname(host, port: port),
                availableConnectionsDelegate: .maximum(Self.connectionCap(maximumConnections), logger: logger)),
            onServerRunning: onServerRunning, logger: logger)
    }

    /// The same server with `fastPath` answering its route ahead of the HTTP codec, and
    /// connections that only meet the fast path costing no more than it (``FastPathServer``).
    public func server<Context: RequestContext>(
        router: Router<Context>, fastPath: any FastPathResponder,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }, logger: Logger
    ) -> FastPathServer<Context> where Context.Source == ApplicationRequestContextSource {
        FastPathServer(
            settings: self, router: router, fastPath: fastPath, onServerRunning: onServerRunning, logger: logger)
    }

    /// `requested`, but at most three quarters of the open-file limit (the rest is for Redis,
    /// Postgres, Kafka and log files).
    static func connectionCap(_ requested: Int) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return requested }
        // RLIM_INFINITY is the largest value: clamping turns it into a cap that never binds.
        return max(1, min(requested, Int(clamping: limit.rlim_cur) / 4 * 3))
    }
}
