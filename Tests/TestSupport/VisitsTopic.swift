import Logging
import SharedConfiguration
import SharedEvents
import SharedKafka

/// What a namespace's visits topic holds, read straight from the broker.
public enum VisitsTopic {
    /// Every visit event of `namespace`'s visits topic with its key, partition by partition, each
    /// in its order (the test stack's broker unless told).
    public static func read(_ namespace: Namespace, brokers: String? = nil) async throws -> [(
        key: String, event: VisitEvent
    )] {
        var visits: [(String, VisitEvent)] = []
        for partition in Int32(0)..<3 {
            let reader = try KafkaPartitionReader(
                bootstrapServers: try brokers ?? TestStack.kafkaBrokers, groupID: "\(namespace.name)-visits-test",
                topic: namespace.visitsTopic, partition: partition, logger: Logger(label: "test"))
            let (low, high) = try await reader.bounds()
            var next = low
            while next < high {
                let messages = try await reader.read(from: next, before: high, maximum: 1000)
                for message in messages {
                    visits.append(
                        (
                            String(decoding: message.key ?? [], as: UTF8.self),
                            try EventCodec.decodeVisitEvent(message.value)
                        ))
                }
                next = (messages.last?.offset ?? high) + 1
            }
            await reader.shutdown()
        }
        return visits
    }
}
