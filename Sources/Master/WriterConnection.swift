import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// The group-commit writer's own Postgres connection, on the writer's loop: opened when a flush
/// needs it, opened again after a statement on it failed, closed when the master stops.
///
/// A connection leased from the pool for every flush cost about a tenth of the creates at 16
/// connections: each lease and release wakes the pool's task, and its connections' timers, on
/// the global executor. Only the one writer uses it, one flush at a time.
final class WriterConnection: Service, Sendable {
    /// The master stopped: no connection is opened any more.
    struct Stopped: Error, CustomStringConvertible {
        var description: String { "the master is stopping" }
    }

    /// How the connection shows in `pg_stat_activity`.
    static let applicationName = "shortener create writer"

    private struct State {
        var connection: PostgresConnection?
        var opened = 0
        var stopped = false
    }

    private let configuration: PostgresConnection.Configuration
    /// The loop the connection runs on, where the writer runs too.
    let eventLoop: any EventLoop
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    /// A connection to the server, login and database of `configuration`, on `eventLoop`.
    init(configuration: PostgresClient.Configuration, eventLoop: any EventLoop, logger: Logger) {
        var single = configuration.singleConnection
        single.options.additionalStartupParameters.append(("application_name", Self.applicationName))
        self.configuration = single
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// Runs `body` on the connection, opening it first if needed. When `body` fails, the
    /// connection is closed and the next call opens a new one: after a timeout, a cancellation or
    /// a server that went away, its state is unknown, and statement errors are rare here.
    func run<Value: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> Value) async throws -> Value {
        let connection = try await open()
        do {
            return try await body(connection)
        } catch {
            state.withLockedValue { state in
                if state.connection === connection { state.connection = nil }
            }
            connection.close().whenComplete { _ in }
            throw error
        }
    }

    private func open() async throws -> PostgresConnection {
        let current = try state.withLockedValue { state throws(Stopped) in
            guard !state.stopped else { throw Stopped() }
            return state.connection
        }
        if let current, !current.isClosed { return current }
        let id = state.withLockedValue { state in
            state.opened += 1
            return state.opened
        }
        let connection = try await PostgresConnection.connect(
            on: eventLoop, configuration: configuration, id: id, logger: logger
        ).get()
        // One opened meanwhile (after a timeout, this connect went on alone) is kept instead.
        let kept = state.withLockedValue { state -> PostgresConnection? in
            guard !state.stopped else { return nil }
            if let other = state.connection, !other.isClosed { return other }
            state.connection = connection
            return connection
        }
        guard let kept else {
            try? await connection.close()
            throw Stopped()
        }
        if kept !== connection { try? await connection.close() }
        return kept
    }

    /// Waits for the master to stop, then closes the connection.
    func run() async throws {
        try? await gracefulShutdown()
        let connection = state.withLockedValue { state in
            state.stopped = true
            defer { state.connection = nil }
            return state.connection
        }
        try? await connection?.close()
    }
}
