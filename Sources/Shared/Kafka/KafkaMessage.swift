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
    /// The message's headers, in order.
    public let headers: [KafkaHeader]
    /// Its timestamp in milliseconds since 1970 (the producer's create time), nil when it has none.
    public let timestamp: Int64?

    public init(
        topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = [],
        timestamp: Int64? = nil
    ) {
        self.timestamp = timestamp
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// The value of the last header called `name`, as UTF-8 text.
    public func header(_ name: String) -> String? {
        headers.last { $0.name == name }.map { String(decoding: $0.value, as: UTF8.self) }
    }

    /// The key as UTF-8 text.
    public var keyString: String? { key.map { String(decoding: $0, as: UTF8.self) } }
}

/// One Kafka message header.
public struct KafkaHeader: Sendable, Equatable {
    public let name: String
    public let value: [UInt8]

    public init(_ name: String, _ value: [UInt8]) {
        self.name = name
        self.value = value
    }

    public init(_ name: String, _ text: String) { self.init(name, Array(text.utf8)) }
}

extension KafkaMessage {
    /// Where the message sits in Kafka, as log metadata (`kafka.topic`, `kafka.partition`, `kafka.offset`).
    public var logMetadata: Logger.Metadata {
        ["kafka.topic": "\(topic)", "kafka.partition": "\(partition)", "kafka.offset": "\(offset)"]
    }
}
