import CHiredis
import Foundation
import Logging
import Metrics

/// One connection to Redis over hiredis, driven by a dedicated thread so that no Swift task
/// ever blocks: callers enqueue commands and await their replies.
///
/// The thread takes everything queued at once, writes it in one go and then reads the replies
/// in order, so commands from concurrent requests are pipelined on the one connection. A broken
/// connection fails the commands in flight and is re-established for the next ones.
///
/// `@unchecked Sendable`: the queue is only touched while `condition` is locked, and the hiredis
/// context only on the connection's own thread.
public final class RedisConnection: @unchecked Sendable {
    private let host: String
    private let port: Int
    private let timeout: timeval
    private let logger: Logger
    private let condition = NSCondition()
    private var queue: [PendingCommand] = []
    private var isClosed = false
    private let finished = DispatchSemaphore(value: 0)

    /// Connects lazily to `host:port`; each connect, write and read is bounded by `timeout`.
    public init(host: String, port: Int, timeout: Duration = .seconds(2), logger: Logger) {
        self.host = host
        self.port = port
        let (seconds, attoseconds) = timeout.components
        self.timeout = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        self.logger = logger
        let thread = Thread { [self] in serve() }
        thread.name = "redis \(host):\(port)"
        thread.start()
    }

    /// Runs one command, e.g. `["HGET", "key", "field"]`, and returns its reply.
    /// Error replies throw ``RedisError`` of kind `.reply`.
    public func send(_ arguments: [String]) async throws -> RedisValue {
        try await send(arguments.map { Array($0.utf8) })
    }

    /// Runs one command given as raw argument bytes.
    public func send(_ arguments: [[UInt8]]) async throws -> RedisValue {
        let reply = try await withCheckedThrowingContinuation { continuation in
            let command = PendingCommand(arguments: arguments, continuation: continuation)
            condition.lock()
            if isClosed {
                condition.unlock()
                continuation.resume(throwing: RedisError(.closed, "connection to \(host):\(port) is closed"))
                return
            }
            queue.append(command)
            condition.signal()
            condition.unlock()
        }
        if case .error(let message) = reply { throw RedisError(.reply, message) }
        return reply
    }

    /// Fails queued commands, stops the thread and closes the connection; waits for the thread.
    public func close() {
        condition.lock()
        let alreadyClosed = isClosed
        isClosed = true
        condition.signal()
        condition.unlock()
        if !alreadyClosed { finished.wait() }
    }

    deinit {
        condition.lock()
        let pending = queue
        queue = []
        condition.unlock()
        for command in pending { command.continuation.resume(throwing: RedisError(.closed, "connection deallocated")) }
    }

    // MARK: The connection thread

    /// `redis_pipeline_depth`: commands written together per round trip (saturation of the
    /// connection: 1 when idle, growing with concurrent requests).
    private static let pipelineDepth = Recorder(label: "redis_pipeline_depth", aggregate: true)

    private func serve() {
        var context: UnsafeMutablePointer<redisContext>?
        while let batch = nextBatch() {
            Self.pipelineDepth.record(batch.count)
            if context == nil { context = connect(failing: batch) }
            guard let connected = context else { continue }
            if !exchange(batch, on: connected) {
                redisFree(connected)
                context = nil
            }
        }
        if let context { redisFree(context) }
        condition.lock()
        let pending = queue
        queue = []
        condition.unlock()
        for command in pending { command.continuation.resume(throwing: RedisError(.closed, "connection closed")) }
        finished.signal()
    }

    /// Waits for commands; `nil` once closed.
    private func nextBatch() -> [PendingCommand]? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !isClosed { condition.wait() }
        if isClosed { return nil }
        defer { queue = [] }
        return queue
    }

    /// Connects, or fails `batch` and returns `nil`.
    private func connect(failing batch: [PendingCommand]) -> UnsafeMutablePointer<redisContext>? {
        let context = redisConnectWithTimeout(host, Int32(port), timeout)
        if let context, context.pointee.err == 0 {
            redisSetTimeout(context, timeout)
            logger.debug("Connected to Redis", metadata: ["redis.address": "\(host):\(port)"])
            return context
        }
        let reason = context.map(Self.errorText) ?? "out of memory"
        if let context { redisFree(context) }
        let error = RedisError(.connection, "cannot connect to Redis at \(host):\(port): \(reason)")
        for command in batch { command.continuation.resume(throwing: error) }
        return nil
    }

    /// Writes every command, then reads every reply; `false` if the connection broke.
    private func exchange(_ batch: [PendingCommand], on context: UnsafeMutablePointer<redisContext>) -> Bool {
        for command in batch { command.append(to: context) }
        for (index, command) in batch.enumerated() {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                let error = RedisError(.connection, "Redis at \(host):\(port): \(Self.errorText(context))")
                for failed in batch[index...] { failed.continuation.resume(throwing: error) }
                return false
            }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            let value = RedisValue(copying: reply)
            freeReplyObject(raw)
            command.continuation.resume(returning: value)
        }
        return true
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

/// A command waiting for its reply.
private struct PendingCommand {
    let arguments: [[UInt8]]
    let continuation: CheckedContinuation<RedisValue, any Error>

    /// Appends the command to hiredis's output buffer (binary-safe: lengths are explicit).
    func append(to context: UnsafeMutablePointer<redisContext>) {
        var joined: [UInt8] = []
        joined.reserveCapacity(arguments.reduce(1) { $0 + $1.count })
        for argument in arguments { joined.append(contentsOf: argument) }
        joined.append(0)
        joined.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            var pointers: [UnsafePointer<CChar>?] = []
            var lengths: [Int] = []
            var offset = 0
            for argument in arguments {
                pointers.append(base + offset)
                lengths.append(argument.count)
                offset += argument.count
            }
            redisAppendCommandArgv(context, Int32(arguments.count), &pointers, lengths)
        }
    }
}

extension RedisValue {
    /// Copies a hiredis reply tree into Swift values.
    init(copying reply: UnsafeMutablePointer<redisReply>) {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING:
            self = .bulk(Array(UnsafeRawBufferPointer(start: node.str, count: node.len)))
        case REDIS_REPLY_STATUS:
            self = .status(String(decoding: UnsafeRawBufferPointer(start: node.str, count: node.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            self = .error(String(decoding: UnsafeRawBufferPointer(start: node.str, count: node.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(node.integer))
        case REDIS_REPLY_ARRAY:
            self = .array(
                (0..<node.elements).map { index in
                    node.element[index].map(RedisValue.init(copying:)) ?? .null
                })
        default:
            self = .null
        }
    }
}
