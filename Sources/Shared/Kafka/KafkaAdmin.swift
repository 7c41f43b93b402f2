import Logging
import NIOPosix
import SharedConfiguration

/// Inspects and administers topics and consumer groups through librdkafka's admin API: what
/// `topics list|describe|apply` shows and does. Every call blocks a thread of NIO's blocking
/// pool, never the cooperative pool, for at most ``timeoutMilliseconds`` per request.
public final class KafkaAdmin: Sendable {
    private let client: RDKafkaClient
    private let bootstrapServers: String
    private let logger: Logger
    /// Longest wait for one request to the cluster. Default: 10 s.
    public let timeoutMilliseconds: Int32

    public init(bootstrapServers: String, timeoutMilliseconds: Int32 = 10_000, logger: Logger) throws {
        self.bootstrapServers = bootstrapServers
        self.timeoutMilliseconds = timeoutMilliseconds
        self.logger = logger
        client = try RDKafkaClient(kind: .producer, settings: ["bootstrap.servers": bootstrapServers], logger: logger)
    }

    /// The topics of the cluster (only those `named` when given), partition by partition, with
    /// watermarks. One metadata request, then one watermark request per partition described: a
    /// cluster shared by many namespaces has many partitions, so callers name what they need.
    public func topics(named names: Set<String>? = nil) async throws -> [KafkaTopicDescription] {
        try await blocking { [self] in
            let layout: [String: [KafkaPartitionLayout]]
            switch client.partitionLayout(of: nil, timeout: timeoutMilliseconds) {
            case .success(let found): layout = found
            case .failure(let error):
                throw SettingError(
                    "cannot read the cluster's metadata from \(bootstrapServers) (\(error.message)); "
                        + "is Kafka up there? Set SHORTENER_KAFKA_BROKERS or --kafka-brokers")
            }
            return try layout.keys.sorted().filter { names?.contains($0) ?? true }.map { name in
                let partitions = try layout[name, default: []].map { partition in
                    let marks = try client.watermarks(
                        topic: name, partition: partition.partition, timeout: timeoutMilliseconds
                    ).get()
                    return KafkaPartitionDescription(
                        partition: partition.partition, leader: partition.leader, replicas: partition.replicas,
                        inSyncReplicas: partition.inSyncReplicas, lowWatermark: marks.low,
                        highWatermark: marks.high)
                }
                return KafkaTopicDescription(name: name, partitions: partitions)
            }
        }
    }

    /// How far `group` has read each of `topics`: its committed offset and lag per partition (a
    /// partition without a committed offset lags by all its messages). One request for all.
    public func lag(of group: String, on topics: [KafkaTopicDescription]) async throws -> [KafkaGroupLag] {
        try await blocking { [self] in
            let groupClient = try client(of: group)
            defer { groupClient.destroy() }
            let partitions = topics.flatMap { topic in
                topic.partitions.map { PartitionKey(topic: topic.name, partition: $0.partition) }
            }
            let committed = try groupClient.committedOffsets(of: partitions, timeoutMilliseconds: timeoutMilliseconds)
            return topics.map { topic in
                KafkaGroupLag(
                    group: group, topic: topic.name,
                    partitions: topic.partitions.map { partition in
                        let offset = committed[PartitionKey(topic: topic.name, partition: partition.partition)]
                        let position = max(offset ?? partition.lowWatermark, partition.lowWatermark)
                        return KafkaPartitionLag(
                            partition: partition.partition, committedOffset: offset,
                            highWatermark: partition.highWatermark, lag: max(0, partition.highWatermark - position))
                    })
            }
        }
    }

    /// Commits `offsets` (topic → partition → next offset to read) for `group` without joining
    /// it: what a restored dev broker does to give the groups back their positions. A cluster
    /// refuses it while the group has members.
    public func commit(_ offsets: [String: [Int32: Int64]], for group: String) async throws {
        guard offsets.values.contains(where: { !$0.isEmpty }) else { return }
        try await blocking { [self] in
            let groupClient = try client(of: group)
            defer { groupClient.destroy() }
            var next: [PartitionKey: Int64] = [:]
            for (topic, partitions) in offsets {
                for (partition, offset) in partitions {
                    next[PartitionKey(topic: topic, partition: partition)] = offset
                }
            }
            try groupClient.commit(next)
        }
    }

    /// The ids of every consumer group the cluster knows. Throws a ``KafkaError`` for which
    /// ``KafkaError/isUnsupportedByBroker`` holds on a broker without ListGroups (the dev broker).
    public func consumerGroups() async throws -> [String] {
        try await blocking { [self] in
            try client.listConsumerGroups(timeoutMilliseconds: timeoutMilliseconds)
        }
    }

    /// Creates `topics` as their definitions say; returns each topic's error, nil where it was created.
    public func createTopics(_ topics: [(name: String, definition: TopicDefinition)]) async throws -> [String:
        KafkaError?]
    {
        try await blocking { [self] in
            try client.createTopics(topics, timeoutMilliseconds: timeoutMilliseconds)
        }
    }

    /// The configs of `topic` as the cluster applies them (explicit and default values).
    public func configs(of topic: String) async throws -> [String: String] {
        try await blocking { [self] in
            try client.describeConfigs(of: topic, timeoutMilliseconds: timeoutMilliseconds)
        }
    }

    /// Releases the client.
    public func close() { client.destroy() }

    // MARK: Plumbing

    /// Runs `work` on NIO's blocking thread pool.
    private func blocking<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await NIOThreadPool.singleton.runIfActive(work)
    }

    /// A consumer handle of `group` that never joins it: for reading and committing its offsets.
    private func client(of group: String) throws -> RDKafkaClient {
        try RDKafkaClient(
            kind: .consumer,
            settings: ["bootstrap.servers": bootstrapServers, "group.id": group, "enable.auto.commit": "false"],
            logger: logger)
    }
}

/// One topic as the cluster reports it.
public struct KafkaTopicDescription: Sendable, Encodable, Equatable {
    public let name: String
    public let partitions: [KafkaPartitionDescription]
    /// Copies of each partition (of the first partition; Kafka keeps them equal).
    public let replicationFactor: Int
    /// Messages stored over all partitions (watermark difference; compaction leaves gaps).
    public let messages: Int64

    public init(name: String, partitions: [KafkaPartitionDescription]) {
        self.name = name
        self.partitions = partitions
        replicationFactor = partitions.first?.replicas.count ?? 0
        messages = partitions.reduce(0) { $0 + $1.messages }
    }
}

/// One partition: where it lives and which offsets it stores.
public struct KafkaPartitionDescription: Sendable, Encodable, Equatable {
    public let partition: Int32
    /// Broker id of the leader (-1 while there is none).
    public let leader: Int32
    public let replicas: [Int32]
    public let inSyncReplicas: [Int32]
    /// The first offset still stored.
    public let lowWatermark: Int64
    /// The offset the next message will get.
    public let highWatermark: Int64
    /// Offsets between the watermarks.
    public let messages: Int64

    init(
        partition: Int32, leader: Int32, replicas: [Int32], inSyncReplicas: [Int32], lowWatermark: Int64,
        highWatermark: Int64
    ) {
        self.partition = partition
        self.leader = leader
        self.replicas = replicas
        self.inSyncReplicas = inSyncReplicas
        self.lowWatermark = lowWatermark
        self.highWatermark = highWatermark
        messages = highWatermark - lowWatermark
    }
}

/// How far one consumer group has read one topic.
public struct KafkaGroupLag: Sendable, Encodable, Equatable {
    public let group: String
    public let topic: String
    public let partitions: [KafkaPartitionLag]
    /// Messages the group has still to read, over all partitions.
    public let totalLag: Int64

    /// Whether the group committed an offset on any partition of the topic (it reads it).
    public var hasCommitted: Bool { partitions.contains { $0.committedOffset != nil } }

    init(group: String, topic: String, partitions: [KafkaPartitionLag]) {
        self.group = group
        self.topic = topic
        self.partitions = partitions
        totalLag = partitions.reduce(0) { $0 + $1.lag }
    }
}

/// One partition of ``KafkaGroupLag``.
public struct KafkaPartitionLag: Sendable, Encodable, Equatable {
    public let partition: Int32
    /// The next offset the group will read, nil when it committed none for this partition.
    public let committedOffset: Int64?
    public let highWatermark: Int64
    /// Messages between the committed offset (or the low watermark) and the high watermark.
    public let lag: Int64
}
