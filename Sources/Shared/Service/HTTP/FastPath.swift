import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import SharedResilience

/// Requests answered below the router: a service's hottest route, parsed from the request head
/// alone and answered with a head and a body, with no router, middleware or request context.
/// Everything else, and every request the responder declines, goes to the router as before.
public protocol FastPathResponder: Sendable {
    /// The route template its requests are counted under in the request metrics (`/{code}`).
    var route: String { get }

    /// Whether the responder may answer this request: decided on the event loop, from the head
    /// alone, cheaply (most requests of a busy server pass through here).
    func accepts(_ head: HTTPRequest) -> Bool

    /// The answer, or nil to hand the request to the router (which then answers it as if the
    /// fast path did not exist: a declined request must have had no effect).
    func respond(to head: HTTPRequest, remoteAddress: SocketAddress?) async -> FastPathAnswer?
}

/// An answer of the fast path: its head (`Content-Length` is added) and body.
public struct FastPathAnswer: Sendable {
    public var head: HTTPResponse
    public var body: ByteBuffer?

    public init(head: HTTPResponse, body: ByteBuffer? = nil) {
        self.head = head
        self.body = body
    }

    /// `error` answered as the router's error handling answers it.
    public init(_ error: APIError) {
        self.init(
            head: HTTPResponse(status: error.status, headerFields: error.responseHeaders),
            body: ByteBuffer(bytes: error.body))
    }
}

/// Answers the requests a ``FastPathResponder`` accepts, in the connection's order: a request
/// that arrives while another is answered (pipelined) waits in a small queue, and reading stops
/// while the queue is full. Nothing new is handled while the socket cannot take more: a client
/// that pipelines without end and never reads its answers holds a bounded amount of memory.
/// Sits after Hummingbird's connection state handler, so that idle and keep-alive handling,
/// graceful shutdown and the request-head timeout see the fast path's requests like any other.
final class FastPathHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Who answers the request whose parts are read now.
    private enum Current {
        /// No request is being read or answered.
        case none
        /// The fast path reads it (its body is dropped) and answers once its end arrives.
        case fastPath(HTTPRequest)
        /// The router answers it; done when its answer's end is written.
        case router
    }

    /// Parts held while another request is answered, past which reading stops.
    static let maximumHeldParts = 16

    private let responder: any FastPathResponder
    private let logger: Logger
    private let requestLogLevel: Logger.Level
    private var current = Current.none
    /// Whether the current request's end has been read (its answer may still be coming).
    private var currentRead = false
    private var held = CircularBuffer<HTTPRequestPart>()
    private var readWaiting = false
    /// Runs the answers' tasks on the connection's loop (made once per connection).
    private var executor: EventLoopTaskExecutor?

    init(responder: any FastPathResponder, logger: Logger, requestLogLevel: Logger.Level) {
        self.responder = responder
        self.logger = logger
        self.requestLogLevel = requestLogLevel
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if currentRead || !held.isEmpty || !context.channel.isWritable {
            held.append(part)
            return
        }
        handle(part, context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, !currentRead { releaseHeld(context: context) }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if held.count >= Self.maximumHeldParts {
            readWaiting = true
        } else {
            context.read()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
        if case .router = current, case .end = unwrapOutboundIn(data) { finished(context: context) }
    }

    private func handle(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch (part, current) {
        case (.head(let head), .none):
            currentRead = false
            if responder.accepts(head) {
                current = .fastPath(head)
            } else {
                current = .router
                context.fireChannelRead(wrapInboundOut(part))
            }
        case (.body, .fastPath):
            break
        case (.end, .fastPath(let head)):
            currentRead = true
            answer(head, context: context)
        case (.end, .router):
            currentRead = true
            context.fireChannelRead(wrapInboundOut(part))
        default:
            context.fireChannelRead(wrapInboundOut(part))
        }
    }

    private func answer(_ head: HTTPRequest, context: ChannelHandlerContext) {
        let loop = context.eventLoop
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
        let responder = responder
        let remoteAddress = context.channel.remoteAddress
        let start = ContinuousClock.now
        let executor = executor ?? EventLoopTaskExecutor(loop)
        self.executor = executor
        Task(executorPreference: executor) {
            let answer = await responder.respond(to: head, remoteAddress: remoteAddress)
            if loop.inEventLoop {
                bound.value.handler.deliver(answer, for: head, since: start, context: bound.value.context)
            } else {
                loop.execute {
                    bound.value.handler.deliver(answer, for: head, since: start, context: bound.value.context)
                }
            }
        }
    }

    private func deliver(
        _ answer: FastPathAnswer?, for head: HTTPRequest, since start: ContinuousClock.Instant,
        context: ChannelHandlerContext
    ) {
        guard context.channel.isActive else { return }
        guard let answer else {
            current = .router
            context.fireChannelRead(wrapInboundOut(.head(head)))
            context.fireChannelRead(wrapInboundOut(.end(nil)))
            context.fireChannelReadComplete()
            return
        }
        var response = answer.head
        response.headerFields[.contentLength] = String(answer.body?.readableBytes ?? 0)
        let closing = Self.asksToClose(head)
        if closing { response.headerFields[.connection] = "close" }
        let duration = ContinuousClock.now - start
        FastPathMetrics.shared.record(route: responder.route, status: response.status, duration: duration)
        if logger.logLevel <= requestLogLevel {
            // As the router's request log does: the line and the answer share an id.
            let id = String(UInt64.random(in: .min ... .max), radix: 16)
            response.headerFields[.requestID] = id
            var logger = logger
            logger[metadataKey: "hb.request.id"] = "\(id)"
            logger.log(
                level: requestLogLevel, "Request",
                metadata: [
                    "http.method": "\(head.method)", "http.path": "\(head.path?.prefix { $0 != "?" } ?? "")",
                    "http.route": "\(responder.route)", "http.status": "\(response.status.code)",
                    "http.duration_ms": "\(String(format: "%.3f", duration.inSeconds * 1000))",
                ])
        }
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        if let body = answer.body, body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(body)), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if closing {
            // As the router does after such a request: no more answers; the client closes.
            held.removeAll()
            context.close(mode: .output, promise: nil)
            return
        }
        finished(context: context)
    }

    /// Whether the request says `Connection: close`.
    static func asksToClose(_ head: HTTPRequest) -> Bool {
        head.headerFields[values: .connection].contains { value in
            value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "close" }
        }
    }

    /// The current request is answered: the next held one (if any) goes on.
    private func finished(context: ChannelHandlerContext) {
        current = .none
        currentRead = false
        guard !held.isEmpty else { return }
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        // Not from inside the write that ended the answer: the router's writer may be mid-call.
        context.eventLoop.execute { bound.value.handler.releaseHeld(context: bound.value.context) }
    }

    private func releaseHeld(context: ChannelHandlerContext) {
        var released = false
        while !currentRead, context.channel.isWritable, let part = held.popFirst() {
            handle(part, context: context)
            released = true
        }
        if released { context.fireChannelReadComplete() }
        if readWaiting, held.count < Self.maximumHeldParts {
            readWaiting = false
            context.read()
        }
    }
}

/// The request metrics the router's middleware keeps (`hb_requests`,
/// `http_server_request_duration`), kept for the fast path's answers with handles made once
/// per route and status.
final class FastPathMetrics: Sendable {
    static let shared = FastPathMetrics()

    private struct Key: Hashable {
        let route: String
        let status: Int
    }

    private let handles = NIOLockedValueBox<[Key: (requests: Counter, duration: Metrics.Timer)]>([:])

    func record(route: String, status: HTTPResponse.Status, duration: Duration) {
        let key = Key(route: route, status: status.code)
        let handle = handles.withLockedValue { handles in
            if let handle = handles[key] { return handle }
            let dimensions = [
                ("http.route", route), ("http.request.method", "GET"),
                ("http.response.status_code", String(status.code)),
            ]
            let handle = (
                Counter(label: "hb.requests", dimensions: dimensions),
                Metrics.Timer(label: "http.server.request.duration", dimensions: dimensions)
            )
            handles[key] = handle
            return handle
        }
        handle.requests.increment()
        handle.duration.recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}

/// A child channel as Hummingbird's HTTP/1 channel sets it up (its codecs and connection state
/// handler), with the request-head timeout and, for a service that has one, a
/// ``FastPathHandler`` last before the router's channel.
struct ProjectHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let base: HTTP1Channel
    let headerTimeout: TimeAmount
    let fastPath: (any FastPathResponder)?
    let requestLogLevel: Logger.Level

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // As HTTP1Channel.setup does, with the fast path after the connection state handler.
            let limits = base.configuration.httpDecoder
            var decoderLimits = NIOHTTPDecoderLimitConfiguration()
            decoderLimits.maxHeaderFieldSize = limits.maxHeaderFieldSize
            decoderLimits.maxHeaderListSize = limits.maxHeaderListSize
            decoderLimits.maxHeaderFieldCount = limits.maxHeaderFieldCount
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init(), withDecoderLimitConfiguration: decoderLimits)
            try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try channel.pipeline.syncOperations.addHandler(RequestHeadTimeoutHandler(timeout: headerTimeout))
            try channel.pipeline.syncOperations.addHandler(
                HTTPConnectionStateHandler(
                    idleTimeout: base.configuration.idleTimeout.map { .init($0) }, logger: logger))
            if let fastPath {
                try channel.pipeline.syncOperations.addHandler(
                    FastPathHandler(responder: fastPath, logger: logger, requestLogLevel: requestLogLevel))
            }
            return try NIOAsyncChannel(
                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
