import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOHTTPTypesHTTP1
import NIOPosix
import ServiceLifecycle
import SharedResilience

/// The HTTP server of a service with a ``FastPathResponder``: a plain SwiftNIO server whose
/// connections start with nothing but the request-head timeout and a ``FastPathHandler``. A
/// connection the fast path answers to its end costs no HTTP codec, no async channel and no
/// task. The first request it hands on gets what Hummingbird's HTTP/1 server gives every
/// connection (the codec, its connection state handler, the router's request loop, run on the
/// connection's own event loop as ``HummingbirdCore/HTTPServerBuilder/http1OnConnectionEventLoops(_:)``
/// does), from then on.
///
/// Hummingbird's server passes each accepted connection through an async sequence to a task
/// and wraps it in an async channel at once: thread hops and allocations that were most of a
/// new connection's cost here (README, "Benchmark"). The rest is as its server does it: the
/// same connection cap, graceful shutdown (idle connections close, answers in flight end
/// first), and the request answers of ``Hummingbird/Application`` (a request id in the
/// logger's metadata, a `Date` header, an unexpected error as a 500).
public struct FastPathServer<Context: RequestContext>: Service
where Context.Source == ApplicationRequestContextSource {
    private let settings: HTTPServerSettings
    private let responder: RouterResponder<Context>
    private let fastPath: any FastPathResponder
    private let onServerRunning: @Sendable (any Channel) async -> Void
    private let logger: Logger

    init(
        settings: HTTPServerSettings, router: Router<Context>, fastPath: any FastPathResponder,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void, logger: Logger
    ) {
        self.settings = settings
        self.responder = router.buildResponder()
        self.fastPath = fastPath
        self.onServerRunning = onServerRunning
        self.logger = logger
    }

    public func run() async throws {
        let logger = logger
        let connections = ConnectionSetup(
            http: HTTP1Channel(
                responder: Self.answering(with: responder, logger: logger),
                configuration: .init(idleTimeout: TimeAmount(settings.idleTimeout))),
            headerTimeout: TimeAmount(settings.headerTimeout), fastPath: fastPath,
            requestLogLevel: settings.requestLogLevel, logger: logger)
        let group = MultiThreadedEventLoopGroup.singleton
        let quiescing = ServerQuiescingHelper(group: group)
        let cap = HTTPServerSettings.connectionCap(settings.maximumConnections)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        AvailableConnectionsChannelHandler(delegate: .maximum(cap, logger: logger)))
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try connections.start(channel) }
            }
            .bind(host: settings.host, port: settings.port).get()
        logger.info(
            "Server started and listening on \(settings.host):\(channel.localAddress?.port ?? settings.port)")
        let stopped = channel.eventLoop.makePromise(of: Void.self)
        await withTaskCancellationOrGracefulShutdownHandler {
            await onServerRunning(channel)
            try? await stopped.futureResult.get()
        } onCancelOrGracefulShutdown: {
            // Stops accepting, tells every connection to finish, and fulfils `stopped` once all have closed.
            quiescing.initiateShutdown(promise: stopped)
        }
    }

    /// What ``Hummingbird/Application`` does with each request the router reads.
    private static func answering(with responder: RouterResponder<Context>, logger: Logger)
        -> HTTPChannelHandler.Responder
    {
        { request, responseWriter, channel in
            var logger = logger
            logger[metadataKey: "hb.request.id"] = .stringConvertible(RequestID())
            let response = try await withLogger(logger) { logger in
                let context = Context(source: .init(channel: channel, logger: logger))
                var response: Response
                do {
                    response = try await responder.respond(to: request, context: context)
                } catch let error as HTTPParserError {
                    throw error
                } catch {
                    logger.debug("Unrecognised Error", metadata: ["error.type": "\(error)"])
                    response = Response(status: .internalServerError, body: .init())
                }
                response.headers[.date] = HTTPDate.now
                return response
            }
            do {
                try await responseWriter.write(response: response.head, body: response.body)
            } catch is HTTPParserError {
                // Passed on as it is, a parser error here would have the connection answer again.
                throw AnswerInterrupted()
            }
        }
    }
}

/// A new connection's pipeline, and the rest of it when the fast path hands the connection on.
private struct ConnectionSetup: Sendable {
    let http: HTTP1Channel
    let headerTimeout: TimeAmount
    let fastPath: any FastPathResponder
    let requestLogLevel: Logger.Level
    let logger: Logger

    /// The request-head timeout and the fast path: all a connection the fast path answers needs.
    func start(_ channel: any Channel) throws {
        let headTimeout = RequestHeadTimeoutHandler(timeout: headerTimeout)
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(
            FastPathHandler(
                responder: fastPath, logger: logger, requestLogLevel: requestLogLevel,
                handOver: { fastPathHandler in try handOver(channel, after: fastPathHandler, before: headTimeout) }))
        try pipeline.addHandler(headTimeout)
    }

    /// The HTTP codec between the fast path and the head timeout, the connection state handler
    /// after it, and the router's request loop in a task on the connection's event loop.
    private func handOver(
        _ channel: any Channel, after fastPathHandler: FastPathHandler, before headTimeout: RequestHeadTimeoutHandler
    ) throws {
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHTTPServerCodec(limits: http.configuration.httpDecoder, position: .after(fastPathHandler))
        try pipeline.addHandler(
            HTTPConnectionStateHandler(
                idleTimeout: http.configuration.idleTimeout.map { Duration($0) }, logger: logger),
            position: .after(headTimeout))
        let value = try HTTP1Channel.Value(
            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        let http = http
        let logger = logger
        Task(executorPreference: EventLoopTaskExecutor(channel.eventLoop)) {
            await http.handle(value: value, logger: logger)
        }
    }
}

/// A request's answer broke off: the connection closes without another answer.
private struct AnswerInterrupted: Error {}
