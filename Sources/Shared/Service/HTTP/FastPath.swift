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

/// Requests answered ahead of the HTTP codec and the router: a service's hottest route, read
/// from the request head alone and answered with a head and a body, with no router,
/// middleware or request context.
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

/// An answer of the fast path: its head (`Content-Length` and `Date` are added) and body.
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

/// Answers the requests a ``FastPathResponder`` accepts straight from the connection's bytes,
/// ahead of the HTTP codec: it reads plain `GET` heads itself (``PlainRequestHead``) and writes
/// each answer as one buffer of bytes, one request at a time, in the connection's order.
///
/// The first request it does not answer (another method or route, an unusual head, a request
/// its responder declines) ends its part: from that request's first byte on, everything goes
/// to the HTTP codec and the router as if the fast path did not exist, for the rest of the
/// connection: the HTTP codec, Hummingbird's connection state handler (keep-alive idleness,
/// graceful shutdown) and the router's request loop join the connection then
/// (``FastPathServer``), so a connection answered here to its end never needs them. Until
/// then the request-head timeout hears of them (``FastPathActivity``), a graceful shutdown
/// closes the connection here (after the answer in flight), and a client that closes its side
/// after its requests gets their answers first. Reading stops while more than
/// ``maximumBuffered`` bytes wait, and no answer starts while the socket cannot take more: a
/// client that pipelines without end and never reads holds a bounded amount of memory.
final class FastPathHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    /// Most bytes read ahead while a request is answered.
    static let maximumBuffered = 64 * 1024

    private enum Mode {
        /// Requests are read and answered here.
        case answering
        /// Everything goes on to the HTTP codec.
        case passing
        /// The connection's output is closed after a `Connection: close`: nothing more is read.
        case closed
    }

    private let responder: any FastPathResponder
    private let logger: Logger
    private let requestLogLevel: Logger.Level
    /// Gives the connection the HTTP codec and the router's request loop, when everything goes
    /// on to the router (given this handler, to add the codec after it).
    private let handOver: (FastPathHandler) throws -> Void
    private var mode = Mode.answering
    /// Bytes read and not yet answered or passed on.
    private var buffered: ByteBuffer?
    /// Whether a request is being answered.
    private var busy = false
    /// A graceful shutdown asked for while an answer was in flight: close after it.
    private var quiescing = false
    /// The client closed its side: once the requests it sent are answered, the router hears of it.
    private var inputClosed = false
    private var readWaiting = false
    /// Runs the answers' tasks on the connection's loop (made once per connection).
    private var executor: EventLoopTaskExecutor?

    init(
        responder: any FastPathResponder, logger: Logger, requestLogLevel: Logger.Level,
        handOver: @escaping (FastPathHandler) throws -> Void
    ) {
        self.responder = responder
        self.logger = logger
        self.requestLogLevel = requestLogLevel
        self.handOver = handOver
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch mode {
        case .passing:
            context.fireChannelRead(data)
        case .closed:
            break
        case .answering:
            var bytes = unwrapInboundIn(data)
            if buffered == nil {
                buffered = bytes
            } else {
                buffered!.discardReadBytes()
                buffered!.writeBuffer(&bytes)
            }
            answerNext(context: context)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .answering = mode, context.channel.isWritable { answerNext(context: context) }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if case .answering = mode, (buffered?.readableBytes ?? 0) > Self.maximumBuffered {
            readWaiting = true
        } else {
            context.read()
        }
    }

    /// Reads again if reading waited for the buffered requests to be answered.
    private func readIfWaiting(context: ChannelHandlerContext) {
        guard readWaiting else { return }
        if case .answering = mode, (buffered?.readableBytes ?? 0) > Self.maximumBuffered { return }
        readWaiting = false
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .answering = mode else { return context.fireUserInboundEventTriggered(event) }
        if let event = event as? ChannelEvent, event == .inputClosed {
            // Told now, the router would end the connection before the answers in flight.
            inputClosed = true
            return handOverIfInputClosed(context: context)
        }
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        // A graceful shutdown: an idle connection (or one with half a request) closes now, one
        // with an answer in flight after it.
        if busy {
            quiescing = true
        } else {
            mode = .closed
            buffered = nil
            context.close(promise: nil)
        }
    }

    /// Starts answering the next buffered request, or passes everything on from the first one
    /// not answered here.
    private func answerNext(context: ChannelHandlerContext) {
        guard case .answering = mode, !busy, context.channel.isWritable, let bytes = buffered,
            bytes.readableBytes > 0
        else { return }
        switch PlainRequestHead.read(bytes) {
        case .incomplete:
            return
        case .other:
            passOn(context: context)
        case .request(let head, let length, let closes):
            guard responder.accepts(head) else { return passOn(context: context) }
            let request = buffered!.readSlice(length: length)!
            if buffered!.readableBytes == 0 { buffered = nil }
            busy = true
            context.fireUserInboundEventTriggered(FastPathActivity.headArrived)
            answer(head, request: request, closes: closes, context: context)
        }
    }

    /// After the client closed its side: once nothing is being answered here, whatever is left
    /// goes to the HTTP codec, followed by the news.
    private func handOverIfInputClosed(context: ChannelHandlerContext) {
        guard inputClosed, case .answering = mode, !busy else { return }
        passOn(context: context)
    }

    /// From here on the HTTP codec reads everything, starting with what is buffered.
    private func passOn(context: ChannelHandlerContext) {
        mode = .passing
        do {
            try handOver(self)
        } catch {
            logger.error("Handing a connection over to the router failed: \(error)")
            mode = .closed
            buffered = nil
            return context.close(promise: nil)
        }
        if let bytes = buffered, bytes.readableBytes > 0 {
            context.fireChannelRead(wrapInboundOut(bytes))
            context.fireChannelReadComplete()
        }
        buffered = nil
        if inputClosed { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        if quiescing { context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
        readIfWaiting(context: context)
    }

    private func answer(_ head: HTTPRequest, request: ByteBuffer, closes: Bool, context: ChannelHandlerContext) {
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
                bound.value.handler.deliver(
                    answer, for: head, request: request, closes: closes, since: start, context: bound.value.context)
            } else {
                loop.execute {
                    bound.value.handler.deliver(
                        answer, for: head, request: request, closes: closes, since: start,
                        context: bound.value.context)
                }
            }
        }
    }

    private func deliver(
        _ answer: FastPathAnswer?, for head: HTTPRequest, request: ByteBuffer, closes: Bool,
        since start: ContinuousClock.Instant, context: ChannelHandlerContext
    ) {
        busy = false
        guard context.channel.isActive else { return }
        context.fireUserInboundEventTriggered(FastPathActivity.answerEnded)
        guard let answer else {
            // Declined: the router reads this request, and everything after it.
            var bytes = request
            if var rest = buffered { bytes.writeBuffer(&rest) }
            buffered = bytes
            return passOn(context: context)
        }
        var response = answer.head
        response.headerFields[.contentLength] = String(answer.body?.readableBytes ?? 0)
        response.headerFields[.date] = HTTPDate.now
        if closes { response.headerFields[.connection] = "close" }
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
        var bytes = context.channel.allocator.buffer(capacity: 256 + (answer.body?.readableBytes ?? 0))
        bytes.writeResponseHead(response)
        if var body = answer.body { bytes.writeBuffer(&body) }
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(bytes)), promise: nil)
        if closes || quiescing {
            // As the router does after such a request: no more answers; the client closes.
            mode = .closed
            buffered = nil
            context.close(mode: closes ? .output : .all, promise: nil)
            return
        }
        answerNext(context: context)
        handOverIfInputClosed(context: context)
        readIfWaiting(context: context)
    }
}

/// What the fast path tells the request-head timeout about the requests it answers, which
/// the handlers after the HTTP codec never see.
enum FastPathActivity {
    /// A request head arrived: the connection is not waiting for one.
    case headArrived
    /// Its answer was written (or the request was handed on): the wait for the next begins.
    case answerEnded
}

extension ByteBuffer {
    /// The status line and header fields of `response`, as HTTP/1.1 writes them (with the
    /// status's usual reason phrase when it has none, as the HTTP codec writes it).
    mutating func writeResponseHead(_ response: HTTPResponse) {
        let status = response.status
        let reason =
            status.reasonPhrase.isEmpty ? HTTPResponseStatus(statusCode: status.code).reasonPhrase : status.reasonPhrase
        writeString("HTTP/1.1 \(status.code) \(reason)\r\n")
        for field in response.headerFields {
            writeString(field.name.rawName)
            writeStaticString(": ")
            writeString(field.value)
            writeStaticString("\r\n")
        }
        writeStaticString("\r\n")
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
/// handler), with the request-head timeout: the server of a service without a fast path.
struct ProjectHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let base: HTTP1Channel
    let headerTimeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // As HTTP1Channel.setup does, with the request-head timeout.
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHTTPServerCodec(limits: base.configuration.httpDecoder)
            try pipeline.addHandler(RequestHeadTimeoutHandler(timeout: headerTimeout))
            try pipeline.addHandler(
                HTTPConnectionStateHandler(
                    idleTimeout: base.configuration.idleTimeout.map { Duration($0) }, logger: logger))
            return try NIOAsyncChannel(
                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// HTTP/1's request decoder (within `limits`) and response encoder, and the conversion to
    /// HTTP types, as Hummingbird's HTTP/1 channel adds them, at `position`; between the two, a
    /// request that ends its connection says so as the router's request loop reads it
    /// (``ConnectionCloseHeader``).
    func addHTTPServerCodec(limits: HTTP1Channel.Configuration.DecoderConfiguration, position: Position = .last) throws
    {
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderFieldSize = limits.maxHeaderFieldSize
        decoderLimits.maxHeaderListSize = limits.maxHeaderListSize
        decoderLimits.maxHeaderFieldCount = limits.maxHeaderFieldCount
        let codec = HTTP1ToHTTPServerCodec(secure: false)
        try addHandler(codec, position: position)
        try configureHTTPServerPipeline(
            position: .before(codec), withPipeliningAssistance: false, withErrorHandling: false,
            withOutboundHeaderValidation: false, withEncoderConfiguration: .init(),
            withDecoderLimitConfiguration: decoderLimits)
        try addHandler(ConnectionCloseHeader(), position: .before(codec))
    }
}

/// Gives every request that ends its connection exactly `Connection: close`. Hummingbird's
/// request loop closes the connection after an answer only on that header, exactly; an HTTP/1.0
/// request without keep-alive, or `Connection: keep-alive, close`, would otherwise leave the
/// connection open after its answer until the head timeout. NIO's decoder has read the version
/// and every token of the header into `isKeepAlive`.
final class ConnectionCloseHeader: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), !head.isKeepAlive,
            head.headers[canonicalForm: "connection"] != ["close"]
        else { return context.fireChannelRead(data) }
        head.headers.replaceOrAdd(name: "connection", value: "close")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}
