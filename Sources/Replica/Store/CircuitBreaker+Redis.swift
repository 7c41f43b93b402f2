import Logging
import SharedRedis
import SharedResilience

extension CircuitBreaker {
    /// The breaker for one Redis server. Its connection bounds every command with its own
    /// socket timeouts, so the breaker adds no timer to the redirect path.
    static func redis(logger: Logger) -> CircuitBreaker {
        var settings = Settings()
        settings.callTimeout = nil
        return CircuitBreaker(
            dependency: "redis", settings: settings, logger: logger,
            isDependencyFailure: { error in
                !(error is RedisStateLost)
            })
    }
}
