import Logging

/// A Redis connection whose every command goes through the server's circuit breaker: while the
/// server fails, callers get ``CircuitOpenError`` at once instead of waiting for timeouts.
public struct GuardedRedis: Sendable {
    /// The connection itself (its socket timeouts bound every command).
    public let connection: RedisConnection
    /// The breaker of this Redis server.
    public let breaker: CircuitBreaker

    public init(_ connection: RedisConnection, breaker: CircuitBreaker) {
        self.connection = connection
        self.breaker = breaker
    }

    /// Runs one command through the breaker.
    public func send(_ arguments: [String]) async throws -> RedisValue {
        try await breaker.run { [connection] in try await connection.send(arguments) }
    }

    /// Runs a script through the breaker. An error reply starting with `STATE_LOST` (the
    /// script found the data it relies on gone) becomes ``RedisStateLost``.
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RedisValue {
        try await breaker.run { [connection] in
            do {
                return try await connection.evaluate(script, keys: keys, arguments: arguments)
            } catch let error as RedisError where error.kind == .reply && error.message.hasPrefix("STATE_LOST") {
                throw RedisStateLost(error.message)
            }
        }
    }
}
