import Foundation
import Logging
import Metrics
import SharedConfiguration
import SharedEvents
import SharedJSON
import SharedResilience

/// Where consumers put the messages they cannot use, so that a bad message is kept for people
/// to look at while its partition keeps moving: `<ns>-dlq`.
///
/// A dead letter is the original key and value, untouched, with headers saying where it came
/// from and why: `dlq.source.topic`, `dlq.source.partition`, `dlq.source.offset`, `dlq.reason`
/// (`malformed`, `unknown_type`, `unsupported_version`), `dlq.error`, `dlq.consumer.group`,
/// `dlq.failed_at`. ``divert(_:because:)`` returns only once the broker has the dead letter, so
/// the caller may then store the bad message's offset: nothing is dropped on a crash.
public struct DeadLetterQueue: Sendable {
    /// Its own producer (the `dead-letters` client): run it as a service before the consumer
    /// that dead-letters, so that it stops after it and flushes what that consumer diverted.
    public let producer: KafkaProducer
    private let breaker: CircuitBreaker
    private let topic: String
    private let consumerGroup: String
    private let logger: Logger

    /// - Parameters:
    ///   - clients: the settings of its producer (`dead-letters`).
    ///   - breaker: the process's Kafka breaker.
    ///   - consumerGroup: the group of the consumer that dead-letters, for the header.
    public init(
        bootstrapServers: String, clients: KafkaClientSettings, breaker: CircuitBreaker, namespace: Namespace,
        consumerGroup: String, logger: Logger
    ) throws {
        self.producer = try KafkaProducer(
            settings: KafkaProducerSettings(bootstrapServers: bootstrapServers, clientSettings: clients[.deadLetters]),
            logger: logger)
        self.breaker = breaker
        self.topic = namespace.deadLetterTopic
        self.consumerGroup = consumerGroup
        self.logger = logger
    }

    /// Decodes the message with `decode`; if it is unusable, dead-letters it and returns `nil`.
    public func decode<Event>(
        _ message: KafkaMessage, with decode: ([UInt8]) throws(EventDecodingError) -> Event
    ) async throws -> Event? {
        do {
            return try decode(message.value)
        } catch {
            try await divert(message, because: error)
            return nil
        }
    }

    /// Logs the message with its position, counts it, and copies it to the dead-letter topic.
    public func divert(_ message: KafkaMessage, because error: EventDecodingError) async throws {
        try await divert(message, reason: error.reason, detail: error.description)
    }

    /// Dead-letters a message its consumer cannot apply for `reason` (a short fixed label, for
    /// the metric), with `detail` for people.
    public func divert(_ message: KafkaMessage, reason: String, detail: String) async throws {
        logger.warning(
            "Dead-lettering an unusable event",
            metadata: message.logMetadata.merging(["event.error": "\(reason)", "error": "\(detail)"]) { $1 })
        Counter(label: "events_dead_lettered_total", dimensions: [("topic", message.topic), ("reason", reason)])
            .increment()
        let headers = [
            KafkaHeader("dlq.source.topic", message.topic),
            KafkaHeader("dlq.source.partition", String(message.partition)),
            KafkaHeader("dlq.source.offset", String(message.offset)),
            KafkaHeader("dlq.reason", reason),
            KafkaHeader("dlq.error", detail),
            KafkaHeader("dlq.consumer.group", consumerGroup),
            KafkaHeader("dlq.failed_at", RFC3339.format(Date())),
        ]
        try await breaker.run { [producer, topic] in
            try await producer.enqueue(topic: topic, key: message.key, value: message.value, headers: headers).value()
        }
    }
}
