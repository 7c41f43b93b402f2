import SharedResilience

/// Settings of a ``KafkaConsumer``.
public struct KafkaConsumerSettings: Sendable {
    /// How the consumer gets its partitions.
    public enum Assignment: Sendable {
        /// Join `group.id` and let the group balance `topics` among its members.
        case subscribe(topics: [String])
        /// Read every partition of `topic`, starting where `startOffsets` says (partition → next
        /// offset to read; partitions it leaves out start from the beginning). The group id is
        /// still used to commit offsets, so lag stays visible to Kafka tools. `caughtUp`, if
        /// given, runs on the consume loop once the partitions are read to the end they had when
        /// assigned (retried like a handler), before ``KafkaConsumer/isCaughtUp`` turns true: a
        /// handler that rebuilt its state from the start records there that the state is complete.
        case allPartitions(
            topic: String, startOffsets: @Sendable ([Int32]) async throws -> [Int32: Int64],
            caughtUp: (@Sendable () async throws -> Void)? = nil)
    }

    /// A start offset meaning "at the end": only messages produced from now on (librdkafka's
    /// `RD_KAFKA_OFFSET_END`). Such a partition counts as caught up at once.
    public static let newMessagesOnly: Int64 = RDKafkaClient.offsetEnd

    /// Kafka bootstrap servers, comma separated.
    public var bootstrapServers: String
    /// The consumer group (`group.id`).
    public var groupID: String
    /// How partitions are assigned.
    public var assignment: Assignment
    /// librdkafka settings of this client (its block in `topics/clients.properties`).
    public var clientSettings: [String: String]
    /// Most messages handed over per poll of the dedicated thread. Default: 500.
    public var maxBatch: Int = 500
    /// How a failed handler, or a failed read of the start offsets, is retried. Default: from
    /// 100 ms up to 5 s.
    public var retry = RetryPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(5))
    /// Longest a stop waits to leave the group and commit (a broker that is gone never answers).
    /// Default: 5 s.
    public var closeTimeout: Duration = .seconds(5)

    public init(
        bootstrapServers: String, groupID: String, assignment: Assignment,
        clientSettings: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.groupID = groupID
        self.assignment = assignment
        self.clientSettings = clientSettings
    }

    /// The complete librdkafka configuration. At-least-once is not negotiable: offsets are
    /// stored by the wrapper only after the handler succeeded and committed in the background;
    /// the first start (no committed offset) reads from the beginning.
    var librdkafkaSettings: [String: String] {
        var settings = clientSettings
        settings["bootstrap.servers"] = bootstrapServers
        settings["group.id"] = groupID
        settings["enable.auto.commit"] = "true"
        // Every second instead of every 5 s: lag seen by Kafka's tools trails by at most that.
        settings["auto.commit.interval.ms"] = "1000"
        settings["enable.auto.offset.store"] = "false"
        settings["auto.offset.reset"] = "earliest"
        return settings
    }
}
