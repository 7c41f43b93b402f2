import SharedKafka
import SharedRedis
import SharedResilience

/// A Redis connection whose every command goes through the server's circuit breaker: while the
/// server fails, callers get ``CircuitOpenError`` at once instead of waiting for timeouts.
struct GuardedRedis: Sendable {
    /// The connection itself (its socket timeouts bound every command).
    let connection: RedisConnection
    /// The breaker of this Redis server.
    let breaker: CircuitBreaker

    init(_ connection: RedisConnection, breaker: CircuitBreaker) {
        self.connection = connection
        self.breaker = breaker
    }

    /// Runs one command through the breaker.
    func send(_ arguments: [String]) async throws -> RedisValue {
        try await breaker.run { [connection] in try await connection.send(arguments) }
    }

    /// Runs a script through the breaker. An error reply starting with `STATE_LOST` (the
    /// script found the data it relies on gone) becomes ``RedisStateLost``.
    func evaluate(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RedisValue {
        try await breaker.run { [connection] in
            do {
                return try await connection.evaluate(script, keys: keys, arguments: arguments)
            } catch let error as RedisError where error.kind == .reply && error.message.hasPrefix("STATE_LOST") {
                throw RedisStateLost(error.message)
            }
        }
    }
}

/// Redis answered, but the data a script relies on is gone (the server restarted empty or was
/// flushed): the caller must rebuild it. Not a failure of Redis itself.
struct RedisStateLost: LostConsumerState, CustomStringConvertible, Sendable {
    let description: String
    init(_ description: String) { self.description = description }
}
