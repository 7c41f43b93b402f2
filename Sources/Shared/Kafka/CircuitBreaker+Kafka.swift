import Logging
import SharedResilience

extension CircuitBreaker {
    /// The breaker for producing to Kafka. A produce "call" is an enqueue plus its
    /// acknowledgement, which librdkafka bounds itself (`message.timeout.ms`).
    public static func kafka(logger: Logger) -> CircuitBreaker {
        var settings = Settings()
        settings.callTimeout = nil
        return CircuitBreaker(dependency: "kafka", settings: settings, logger: logger)
    }
}
