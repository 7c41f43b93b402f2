import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Connections to one Redis server over SwiftNIO: one socket per event loop, opened on first
/// use and again after it broke.
///
/// A caller running on an event loop (an HTTP handler, see
/// ``HummingbirdCore/HTTPServerBuilder/http1OnConnectionEventLoops(_:)``) uses that loop's socket,
/// so a redirect never leaves its thread: the command is written, the reply read and the answer
/// sent by the same loop. Commands issued in one pass of the loop are written together, so
/// concurrent requests share one round trip. Other callers take the sockets in turn.
///
/// A command that gets no reply within `timeout` fails the socket and every command on it.
public final class RedisConnection: Sendable {
    private let sockets: [ObjectIdentifier: RedisLoopSocket]
    private let rotation: [RedisLoopSocket]
    private let nextInRotation = NIOLockedValueBox(0)

    /// Connects lazily to `host:port`; connecting, and waiting for each reply, is bounded by `timeout`.
    /// - Parameter eventLoopGroup: the loops that each keep a socket (by default the process's
    ///   shared loops, which Hummingbird and PostgresNIO use too).
    public init(
        host: String, port: Int, timeout: Duration = .seconds(2),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) {
        let endpoint = RedisLoopSocket.Endpoint(host: host, port: port, timeout: timeout, logger: logger)
        rotation = eventLoopGroup.makeIterator().map { RedisLoopSocket(endpoint: endpoint, eventLoop: $0) }
        sockets = Dictionary(uniqueKeysWithValues: rotation.map { (ObjectIdentifier($0.eventLoop), $0) })
    }

    /// Runs one command, e.g. `["HGET", "key", "field"]`, and returns its reply.
    /// Error replies throw ``RedisError`` of kind `.reply`.
    public func send(_ arguments: [String]) async throws -> RedisValue {
        var command = ByteBuffer()  // RESP.encode reserves what the command needs
        RESP.encode(arguments, into: &command)
        return try await send(command)
    }

    /// Runs one command already in RESP.
    func send(_ command: ByteBuffer) async throws -> RedisValue {
        let socket = socketForCaller()
        let reply = try await withCheckedThrowingContinuation { continuation in
            if socket.eventLoop.inEventLoop {
                socket.submit(command, continuation)
            } else {
                socket.eventLoop.execute { socket.submit(command, continuation) }
            }
        }
        if case .error(let message) = reply { throw RedisError(.reply, message) }
        return reply
    }

    /// The socket of the loop the caller runs on, or the next one in turn.
    private func socketForCaller() -> RedisLoopSocket {
        if let loop = MultiThreadedEventLoopGroup.currentEventLoop, let socket = sockets[ObjectIdentifier(loop)] {
            return socket
        }
        let index = nextInRotation.withLockedValue { next in
            defer { next = (next + 1) % rotation.count }
            return next
        }
        return rotation[index]
    }

    /// Fails queued commands and closes the sockets; later commands fail with `.closed`.
    public func close() {
        for socket in rotation {
            socket.eventLoop.execute { socket.close() }
        }
    }

    /// A connection nobody holds any more closes its sockets.
    deinit { close() }
}

/// The socket of one event loop to the Redis server; every member is used on that loop only.
private final class RedisLoopSocket: Sendable {
    /// Where to connect, and how long to wait.
    struct Endpoint: Sendable {
        let host: String
        let port: Int
        let timeout: Duration
        let logger: Logger

        var address: String { "\(host):\(port)" }
        var timeoutAmount: TimeAmount { TimeAmount(timeout) }
    }

    /// A command and who waits for its reply.
    struct Pending {
        let command: ByteBuffer
        let continuation: CheckedContinuation<RedisValue, any Error>
        let sentAt: NIODeadline
    }

    private enum Link {
        case idle
        case connecting(waiting: [Pending])
        case open(any Channel, RedisReplyHandler)
        case closed
    }

    let endpoint: Endpoint
    let eventLoop: any EventLoop
    private let link: NIOLoopBoundBox<Link>
    private let flushScheduled: NIOLoopBoundBox<Bool>

    /// `redis_pipeline_depth`: commands written together per round trip (saturation of the
    /// connection: 1 when idle, growing with concurrent requests).
    private static let pipelineDepth = Recorder(label: "redis_pipeline_depth", aggregate: true)

    init(endpoint: Endpoint, eventLoop: any EventLoop) {
        self.endpoint = endpoint
        self.eventLoop = eventLoop
        link = .makeBoxSendingValue(.idle, eventLoop: eventLoop)
        flushScheduled = .makeBoxSendingValue(false, eventLoop: eventLoop)
    }

    func submit(_ command: ByteBuffer, _ continuation: CheckedContinuation<RedisValue, any Error>) {
        let pending = Pending(command: command, continuation: continuation, sentAt: .now())
        switch link.value {
        case .open(let channel, let handler) where channel.isActive:
            guard handler.expect(pending) else { return }
            channel.write(pending.command, promise: nil)
            scheduleFlush(channel, handler)
        case .connecting(var waiting):
            waiting.append(pending)
            link.value = .connecting(waiting: waiting)
        case .idle, .open:
            link.value = .connecting(waiting: [pending])
            connect()
        case .closed:
            continuation.resume(throwing: RedisError(.closed, "connection to \(endpoint.address) is closed"))
        }
    }

    /// One flush for every command written in this pass of the loop.
    private func scheduleFlush(_ channel: any Channel, _ handler: RedisReplyHandler) {
        guard !flushScheduled.value else { return }
        flushScheduled.value = true
        let handler = NIOLoopBound(handler, eventLoop: eventLoop)
        eventLoop.execute { [self] in
            flushScheduled.value = false
            Self.pipelineDepth.record(handler.value.takeUnflushedCount())
            channel.flush()
        }
    }

    private func connect() {
        let handler = RedisReplyHandler(endpoint: endpoint)
        let boundHandler = NIOLoopBound(handler, eventLoop: eventLoop)
        ClientBootstrap(group: eventLoop)
            .connectTimeout(endpoint.timeoutAmount)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RESPReplyDecoder())
                    try channel.pipeline.syncOperations.addHandler(boundHandler.value)
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .whenComplete { [self] result in
                guard case .connecting(let waiting) = link.value else {
                    // Closed while connecting.
                    if case .success(let channel) = result { channel.close(promise: nil) }
                    return
                }
                switch result {
                case .success(let channel):
                    endpoint.logger.debug("Connected to Redis", metadata: ["redis.address": "\(endpoint.address)"])
                    let handler = boundHandler.value
                    link.value = .open(channel, handler)
                    channel.closeFuture.whenComplete { [self] _ in
                        if case .open(let current, _) = link.value, current === channel { link.value = .idle }
                    }
                    for pending in waiting where handler.expect(pending) {
                        channel.write(pending.command, promise: nil)
                    }
                    scheduleFlush(channel, handler)
                case .failure(let error):
                    link.value = .idle
                    let failure = RedisError(.connection, "cannot connect to Redis at \(endpoint.address): \(error)")
                    for pending in waiting { pending.continuation.resume(throwing: failure) }
                }
            }
    }

    func close() {
        switch link.value {
        case .open(let channel, _):
            channel.close(promise: nil)
        case .connecting(let waiting):
            let closed = RedisError(.closed, "connection to \(endpoint.address) was closed")
            for pending in waiting { pending.continuation.resume(throwing: closed) }
        case .idle, .closed:
            break
        }
        link.value = .closed
    }
}

/// Hands each reply to the oldest command waiting on the socket; fails them all when the
/// socket breaks, Redis sends garbage, or the oldest waits longer than the timeout.
private final class RedisReplyHandler: ChannelInboundHandler {
    typealias InboundIn = RedisValue

    private let endpoint: RedisLoopSocket.Endpoint
    private var waiting = CircularBuffer<RedisLoopSocket.Pending>()
    private var unflushed = 0
    private var timeoutCheck: RepeatedTask?
    /// Set once the socket failed: later commands fail at once with it.
    private var failure: RedisError?

    init(endpoint: RedisLoopSocket.Endpoint) {
        self.endpoint = endpoint
    }

    /// Queues `pending` for the next reply; `false` (and `pending` failed) if the socket failed.
    func expect(_ pending: RedisLoopSocket.Pending) -> Bool {
        if let failure {
            pending.continuation.resume(throwing: failure)
            return false
        }
        waiting.append(pending)
        unflushed += 1
        return true
    }

    /// How many commands were written since the last flush.
    func takeUnflushedCount() -> Int {
        defer { unflushed = 0 }
        return unflushed
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let check = TimeAmount(endpoint.timeout / 4)
        let loopContext = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timeoutCheck = context.eventLoop.scheduleRepeatedTask(initialDelay: check, delay: check) { _ in
            let (handler, context) = loopContext.value
            handler.failIfLate(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeoutCheck?.cancel()
        fail(RedisError(.connection, "connection to Redis at \(endpoint.address) was closed"))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = unwrapInboundIn(data)
        guard let pending = waiting.popFirst() else {
            context.fireErrorCaught(RESPError("a reply nobody asked for"))
            return
        }
        pending.continuation.resume(returning: reply)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(RedisError(.connection, "Redis at \(endpoint.address) closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(RedisError(.connection, "Redis at \(endpoint.address): \(error)"))
        context.close(promise: nil)
    }

    private func failIfLate(context: ChannelHandlerContext) {
        guard let oldest = waiting.first, oldest.sentAt + endpoint.timeoutAmount < .now() else { return }
        fail(RedisError(.connection, "Redis at \(endpoint.address) did not answer within \(endpoint.timeout)"))
        context.close(promise: nil)
    }

    private func fail(_ error: RedisError) {
        if failure == nil { failure = error }
        while let pending = waiting.popFirst() { pending.continuation.resume(throwing: error) }
    }
}
