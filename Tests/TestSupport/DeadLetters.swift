import NIOConcurrencyHelpers
import SharedConfiguration
import SharedKafka

/// What a namespace's dead-letter topic holds, read from its beginning by a group of the test's own.
public enum DeadLetters {
    /// The dead letters of `namespace`, once at least `count` arrived or `timeout` passed.
    public static func read(
        _ namespace: Namespace, atLeast count: Int, timeout: Duration = .seconds(15)
    ) async throws -> [KafkaMessage] {
        let letters = NIOLockedValueBox<[KafkaMessage]>([])
        let reader = try KafkaConsumer(
            settings: .init(
                bootstrapServers: try TestStack.kafkaBrokers, groupID: "\(namespace.name)-dlq-check",
                assignment: .allPartitions(topic: namespace.deadLetterTopic) { _ in [:] }),
            logger: TestStack.logger
        ) { message in letters.withLockedValue { $0.append(message) } }
        try await withRunningServices([reader]) {
            _ = await eventually(timeout: timeout) { letters.withLockedValue { $0.count } >= count }
        }
        return letters.withLockedValue { $0 }
    }
}
