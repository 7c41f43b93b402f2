import Logging
import SharedConfiguration
import SharedKafka
import SharedResilience

/// The consumer that keeps a replica's Redis in step with `<ns>-links`, and the producer its
/// dead letters go through: the same for a serving replica and for `replica replay`.
struct LinkFeed {
    let producer: KafkaProducer
    let consumer: KafkaConsumer

    /// - Parameters:
    ///   - clients: the settings of the `replica-links` consumer and the `dead-letters` producer.
    ///   - kafka: the breaker around every produce.
    init(
        namespace: Namespace, replicaID: String, kafkaBrokers: String, clients: KafkaClientSettings,
        store: LinkStore, kafka: CircuitBreaker, logger: Logger
    ) throws {
        let group = namespace.replicaGroup(replicaID: replicaID)
        let deadLetters = try DeadLetterQueue(
            bootstrapServers: kafkaBrokers, clients: clients, breaker: kafka, namespace: namespace,
            consumerGroup: group, logger: logger)
        consumer = try KafkaConsumer(
            settings: KafkaConsumerSettings(
                bootstrapServers: kafkaBrokers,
                groupID: group,
                assignment: .allPartitions(
                    topic: namespace.linksTopic, startOffsets: { _ in try await store.startOffsets() },
                    caughtUp: { try await store.finishRebuild() }),
                clientSettings: clients[.replicaLinks]
            ),
            logger: logger,
            batchHandler: { messages in try await store.apply(messages, deadLetters: deadLetters) })
        self.producer = deadLetters.producer
    }
}
