import Logging

/// One consumed Kafka message, copied out of librdkafka's memory.
public struct KafkaMessage: Sendable {
    /// The topic it was read from.
    public let topic: String
    /// Its partition.
    public let partition: Int32
    /// Its offset within the partition.
    public let offset: Int64
    /// The key bytes, if any.
    public let key: [UInt8]?
    /// The payload bytes (empty for a tombstone).
    public let value: [UInt8]

    public init(topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8]) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
    }

    /// The key as UTF-8 text.
    public var keyString: String? { key.map { String(decoding: $0, as: UTF8.self) } }
}

extension KafkaMessage {
    /// Where the message sits in Kafka, as log metadata (`kafka.topic`, `kafka.partition`, `kafka.offset`).
    public var logMetadata: Logger.Metadata {
        ["kafka.topic": "\(topic)", "kafka.partition": "\(partition)", "kafka.offset": "\(offset)"]
    }
}

extension Logger {
    /// Logs that `message` is not an event this code can use and is skipped on purpose.
    public func skippingUnusable(_ message: KafkaMessage, because error: EventDecodingError) {
        warning(
            "Skipping an unusable event",
            metadata: message.logMetadata.merging(["event.error": "\(error.reason)", "error": "\(error)"]) { $1 })
    }
}
