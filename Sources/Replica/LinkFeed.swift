import Logging
import Shared

/// The consumer that keeps a replica's Redis in step with `<ns>-links`, and the producer its
/// dead letters go through: the same for a serving replica and for `replica replay`.
struct LinkFeed {
    let producer: KafkaProducer
    let consumer: KafkaConsumer

    /// - Parameters:
    ///   - links: `topics/links.properties`, for the consumer's settings.
    ///   - producerSettings: librdkafka settings of the producer (dead letters, and the
    ///     replica's click counts).
    ///   - kafka: the breaker around every produce.
    init(
        namespace: Namespace, replicaID: String, kafkaBrokers: String, links: TopicDefinition,
        producerSettings: [String: String], store: LinkStore, kafka: CircuitBreaker, logger: Logger
    ) throws {
        let producer = try KafkaProducer(
            settings: KafkaProducerSettings(bootstrapServers: kafkaBrokers, topicSettings: producerSettings),
            logger: logger)
        let group = namespace.replicaGroup(replicaID: replicaID)
        let deadLetters = DeadLetterQueue(
            producer: producer, breaker: kafka, namespace: namespace, consumerGroup: group, logger: logger)
        consumer = try KafkaConsumer(
            settings: KafkaConsumerSettings(
                bootstrapServers: kafkaBrokers,
                groupID: group,
                assignment: .allPartitions(topic: namespace.linksTopic) { _ in try await store.startOffsets() },
                topicSettings: links.consumerSettings
            ),
            logger: logger,
            batchHandler: { messages in try await store.apply(messages, deadLetters: deadLetters) })
        self.producer = producer
    }
}
