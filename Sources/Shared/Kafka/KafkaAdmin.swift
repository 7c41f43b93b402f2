import CRDKafka
import Logging
import NIOPosix

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

    /// Every topic of the cluster, partition by partition, with watermarks.
    public func topics() async throws -> [KafkaTopicDescription] {
        try await blocking { [self] in
            let layout: [String: [KafkaPartitionLayout]]
            switch client.partitionLayout(of: nil, timeout: timeoutMilliseconds) {
            case .success(let found): layout = found
            case .failure(let error):
                throw SettingError(
                    "cannot read the cluster's metadata from \(bootstrapServers) (\(error.message)); "
                        + "is Kafka up there? Set SHORTENER_KAFKA_BROKERS or --kafka-brokers")
            }
            return try layout.keys.sorted().map { name in
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
            let list = rd_kafka_topic_partition_list_new(Int32(topics.reduce(0) { $0 + $1.partitions.count }))!
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for topic in topics {
                for partition in topic.partitions {
                    rd_kafka_topic_partition_list_add(list, topic.name, partition.partition)
                }
            }
            let error = rd_kafka_committed(groupClient.handle, list, timeoutMilliseconds)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(error, context: "committed offsets of group \(group)")
            }
            var committed: [PartitionKey: Int64] = [:]
            for entry in UnsafeBufferPointer(start: list.pointee.elems, count: Int(list.pointee.cnt))
            where entry.err == RD_KAFKA_RESP_ERR_NO_ERROR && entry.offset >= 0 {
                committed[PartitionKey(topic: String(cString: entry.topic), partition: entry.partition)] = entry.offset
            }
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
            let list = rd_kafka_topic_partition_list_new(Int32(offsets.values.reduce(0) { $0 + $1.count }))!
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for (topic, partitions) in offsets {
                for (partition, offset) in partitions {
                    rd_kafka_topic_partition_list_add(list, topic, partition)!.pointee.offset = offset
                }
            }
            let error = rd_kafka_commit(groupClient.handle, list, 0)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(error, context: "commit offsets of group \(group)")
            }
        }
    }

    /// The ids of every consumer group the cluster knows. Throws a ``KafkaError`` for which
    /// ``KafkaError/isUnsupportedByBroker`` holds on a broker without ListGroups (the dev broker).
    public func consumerGroups() async throws -> [String] {
        try await blocking { [self] in
            try adminRequest(RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, "list consumer groups") { options, queue in
                rd_kafka_ListConsumerGroups(client.handle, options, queue)
            } result: { event in
                let result = rd_kafka_event_ListConsumerGroups_result(event)
                var errorCount = 0
                let errors = rd_kafka_ListConsumerGroups_result_errors(result, &errorCount)
                var count = 0
                let listings = rd_kafka_ListConsumerGroups_result_valid(result, &count)
                let groups = UnsafeBufferPointer(start: listings, count: count).compactMap { listing in
                    listing.map { String(cString: rd_kafka_ConsumerGroupListing_group_id($0)) }
                }
                if groups.isEmpty, let error = UnsafeBufferPointer(start: errors, count: errorCount).first, let error {
                    throw KafkaError(
                        code: rd_kafka_error_code(error).rawValue,
                        message: "list consumer groups: \(String(cString: rd_kafka_error_string(error)))")
                }
                return groups.sorted()
            }
        }
    }

    /// Creates `topics` as their definitions say; returns each topic's error, nil where it was created.
    public func createTopics(_ topics: [(name: String, definition: TopicDefinition)]) async throws -> [String:
        KafkaError?]
    {
        try await blocking { [self] in
            var newTopics: [OpaquePointer?] = []
            defer { newTopics.forEach { rd_kafka_NewTopic_destroy($0) } }
            for (name, definition) in topics {
                var text = CErrorBuffer()
                guard
                    let newTopic = rd_kafka_NewTopic_new(
                        name, Int32(definition.partitions), Int32(definition.replicationFactor), &text.bytes,
                        text.bytes.count)
                else { throw KafkaError.configuration("topic \(name): \(text.text)") }
                newTopics.append(newTopic)
                for (key, value) in definition.topicConfigs.sorted(by: { $0.key < $1.key }) {
                    let error = rd_kafka_NewTopic_set_config(newTopic, key, value)
                    guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                        throw KafkaError(error, context: "\(name) \(key)")
                    }
                }
            }
            return try adminRequest(RD_KAFKA_ADMIN_OP_CREATETOPICS, "create topics") { options, queue in
                rd_kafka_CreateTopics(client.handle, &newTopics, newTopics.count, options, queue)
            } result: { event in
                var count = 0
                let results = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count)
                var outcome: [String: KafkaError?] = [:]
                for result in UnsafeBufferPointer(start: results, count: count) {
                    guard let result else { continue }
                    let name = String(cString: rd_kafka_topic_result_name(result))
                    let error = rd_kafka_topic_result_error(result)
                    outcome[name] =
                        error == RD_KAFKA_RESP_ERR_NO_ERROR
                        ? .some(nil)
                        : KafkaError(
                            code: error.rawValue,
                            message:
                                "create \(name): \(rd_kafka_topic_result_error_string(result).map { String(cString: $0) } ?? "")"
                        )
                }
                return outcome
            }
        }
    }

    /// The configs of `topic` as the cluster applies them (explicit and default values).
    public func configs(of topic: String) async throws -> [String: String] {
        try await blocking { [self] in
            var resources: [OpaquePointer?] = [rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic)]
            defer { resources.forEach { rd_kafka_ConfigResource_destroy($0) } }
            return try adminRequest(RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, "describe configs of \(topic)") {
                options, queue in
                rd_kafka_DescribeConfigs(client.handle, &resources, resources.count, options, queue)
            } result: { event in
                var count = 0
                let described = rd_kafka_DescribeConfigs_result_resources(
                    rd_kafka_event_DescribeConfigs_result(event), &count)
                guard let resource = UnsafeBufferPointer(start: described, count: count).first, let resource else {
                    return [:]
                }
                let error = rd_kafka_ConfigResource_error(resource)
                guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    throw KafkaError(error, context: "describe configs of \(topic)")
                }
                var entryCount = 0
                let entries = rd_kafka_ConfigResource_configs(resource, &entryCount)
                var configs: [String: String] = [:]
                for entry in UnsafeBufferPointer(start: entries, count: entryCount) {
                    guard let entry, let value = rd_kafka_ConfigEntry_value(entry) else { continue }
                    configs[String(cString: rd_kafka_ConfigEntry_name(entry))] = String(cString: value)
                }
                return configs
            }
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

    /// Sends one admin request with `send(options, queue)` and reads its result event with
    /// `result`, after checking the event's own error.
    private func adminRequest<Value>(
        _ operation: rd_kafka_admin_op_t, _ context: String,
        send: (OpaquePointer?, OpaquePointer?) -> Void,
        result: (OpaquePointer) throws -> Value
    ) throws -> Value {
        let queue = rd_kafka_queue_new(client.handle)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(client.handle, operation)
        defer { rd_kafka_AdminOptions_destroy(options) }
        var text = CErrorBuffer()
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMilliseconds, &text.bytes, text.bytes.count)
        send(options, queue)
        guard let event = rd_kafka_queue_poll(queue, timeoutMilliseconds + 1000) else {
            throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, context: context)
        }
        defer { rd_kafka_event_destroy(event) }
        let error = rd_kafka_event_error(event)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let reason = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? ""
            throw KafkaError(code: error.rawValue, message: "\(context): \(reason)")
        }
        return try result(event)
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
