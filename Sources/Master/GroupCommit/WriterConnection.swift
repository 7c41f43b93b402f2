import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import ServiceLifecycle
import SharedPostgres
import SharedResilience

/// The group-commit writer's own Postgres connection, on the writer's loop: opened at start
/// (and by a flush that finds it closed), opened again after a statement on it failed, closed
/// when the master stops.
///
/// A connection leased from the pool for every flush cost about a tenth of the creates at 16
/// connections: each lease and release wakes the pool's task, and its connections' timers, on
/// the global executor. Only the one writer uses it, one flush at a time.
final class WriterConnection: Service, Sendable {
    /// The master stopped: no connection is opened and no create is queued any more.
    struct Stopped: Error, CustomStringConvertible {
        var description: String { "the master is stopping" }
    }

    /// How the connection shows in `pg_stat_activity`.
    static let applicationName = "shortener create writer"

    private struct State {
        var connection: PostgresConnection?
        /// The connect under way: every caller that finds no connection waits for this one.
        var connecting: EventLoopFuture<PostgresConnection>?
        var opened = 0
        var stopped = false
    }

    private let configuration: PostgresConnection.Configuration
    /// The loop the connection runs on, where the writer runs too.
    let eventLoop: any EventLoop
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    /// A connection to `endpoint`'s server, login and database, on `eventLoop`.
    init(endpoint: PostgresEndpoint, eventLoop: any EventLoop, logger: Logger) {
        var single = endpoint.singleConnection
        single.options.additionalStartupParameters.append(("application_name", Self.applicationName))
        self.configuration = single
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// Runs `body` on the connection behind `breaker`, within the breaker's call timeout (see
    /// ``run(within:_:)``).
    func run<Value: Sendable>(
        through breaker: CircuitBreaker, _ body: @Sendable (PostgresConnection) async throws -> Value
    ) async throws -> Value {
        try await breaker.run(keepingTimeout: { timeout in try await run(within: timeout, body) })
    }

    /// Runs `body` on the connection, opening it first if needed, and ends it at `timeout`: the
    /// connection is then closed, which fails whatever `body` waits for, and ``TimeoutError`` is
    /// thrown. A timer on the loop does it, not ``withTimeout(_:_:)``'s task racing the call: that
    /// task would cost every flush a hop between tasks. When `body` fails, the connection is
    /// closed too and the next call opens a new one: after a timeout, a cancellation or a server
    /// that went away, its state is unknown, and statement errors are rare here.
    func run<Value: Sendable>(
        within timeout: Duration?, _ body: @Sendable (PostgresConnection) async throws -> Value
    ) async throws -> Value {
        let deadline = timeout.map { NIODeadline.now() + TimeAmount($0) }
        let connection: PostgresConnection
        if let open = try openConnection() {
            connection = open
        } else if let timeout {
            // Rare (the first flush, or the one after a failure): a connect that hangs is raced.
            connection = try await withTimeout(timeout) { try await self.open() }
        } else {
            connection = try await open()
        }
        let timedOut = NIOLockedValueBox(false)
        let timer = deadline.map { deadline in
            eventLoop.scheduleTask(deadline: deadline) {
                timedOut.withLockedValue { $0 = true }
                connection.close().whenComplete { _ in }
            }
        }
        defer { timer?.cancel() }
        do {
            return try await body(connection)
        } catch {
            state.withLockedValue { state in
                if state.connection === connection { state.connection = nil }
            }
            connection.close().whenComplete { _ in }
            if let timeout, timedOut.withLockedValue({ $0 }) { throw TimeoutError(duration: timeout) }
            throw error
        }
    }

    /// The connection, if it is open; throws once the master stopped.
    private func openConnection() throws -> PostgresConnection? {
        let (stopped, current) = state.withLockedValue { ($0.stopped, $0.connection) }
        guard !stopped else { throw Stopped() }
        guard let current, !current.isClosed else { return nil }
        return current
    }

    /// How many connections were opened so far.
    var connectionsOpened: Int { state.withLockedValue(\.opened) }

    /// The open connection, or the one being connected: callers that find none at once (the
    /// start and the first flush, or flushes after a failure) share one connect. A connect
    /// raced by a timeout goes on alone, and its connection is kept for the next call.
    private func open() async throws -> PostgresConnection {
        enum Step {
            case ready(PostgresConnection)
            case wait(EventLoopFuture<PostgresConnection>)
            case connect(EventLoopPromise<PostgresConnection>, id: Int)
        }
        let step = try state.withLockedValue { state -> Step in
            guard !state.stopped else { throw Stopped() }
            if let current = state.connection, !current.isClosed { return .ready(current) }
            if let connecting = state.connecting { return .wait(connecting) }
            state.opened += 1
            let promise = eventLoop.makePromise(of: PostgresConnection.self)
            state.connecting = promise.futureResult
            return .connect(promise, id: state.opened)
        }
        switch step {
        case .ready(let connection):
            return connection
        case .wait(let connecting):
            return try await connecting.get()
        case .connect(let promise, let id):
            let connected: EventLoopFuture<PostgresConnection> = PostgresConnection.connect(
                on: eventLoop, configuration: configuration, id: id, logger: logger)
            connected.whenComplete { result in
                let kept = self.state.withLockedValue { state -> Bool in
                    state.connecting = nil
                    guard case .success(let connection) = result, !state.stopped else { return false }
                    state.connection = connection
                    return true
                }
                switch result {
                case .success(let connection) where kept: promise.succeed(connection)
                case .success(let connection):
                    connection.close().whenComplete { _ in }
                    promise.fail(Stopped())
                case .failure(let error): promise.fail(error)
                }
            }
            return try await promise.futureResult.get()
        }
    }

    /// Opens the connection at once, so that the first create does not pay for the connect (if
    /// that fails, the first flush tries again), waits for the master to stop, then closes it.
    func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { _ = try? await self.open() }
            try? await gracefulShutdown()
        }
        let connection = state.withLockedValue { state in
            state.stopped = true
            defer { state.connection = nil }
            return state.connection
        }
        try? await connection?.close()
    }
}
