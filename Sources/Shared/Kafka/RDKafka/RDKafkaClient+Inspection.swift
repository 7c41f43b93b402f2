import CRDKafka

/// Blocking cluster queries on any client handle; callers run them off the cooperative pool.
extension RDKafkaClient {
    /// The partitions of `topic`, or of every topic when `topic` is nil, with their leader and
    /// replicas. Asking for every topic never creates one (a broker may auto-create a topic
    /// that is asked for by name).
    func partitionLayout(of topic: String?, timeout: Int32 = 5000) -> Result<
        [String: [KafkaPartitionLayout]], KafkaError
    > {
        var topicHandle: OpaquePointer?
        if let topic {
            guard let handle = rd_kafka_topic_new(self.handle, topic, nil) else {
                return .failure(KafkaError(rd_kafka_last_error(), context: "topic handle \(topic)"))
            }
            topicHandle = handle
        }
        defer { if let topicHandle { rd_kafka_topic_destroy(topicHandle) } }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let error = rd_kafka_metadata(handle, topic == nil ? 1 : 0, topicHandle, &metadata, timeout)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            return .failure(KafkaError(error, context: "metadata of \(topic ?? "all topics")"))
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        var layout: [String: [KafkaPartitionLayout]] = [:]
        for topicMetadata in UnsafeBufferPointer(start: metadata.pointee.topics, count: Int(metadata.pointee.topic_cnt))
        {
            let name = String(cString: topicMetadata.topic)
            if topicMetadata.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART { continue }
            guard topicMetadata.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                return .failure(KafkaError(topicMetadata.err, context: "metadata of \(name)"))
            }
            layout[name] = UnsafeBufferPointer(start: topicMetadata.partitions, count: Int(topicMetadata.partition_cnt))
                .map { partition in
                    KafkaPartitionLayout(
                        partition: partition.id, leader: partition.leader,
                        replicas: Array(
                            UnsafeBufferPointer(start: partition.replicas, count: Int(partition.replica_cnt))),
                        inSyncReplicas: Array(UnsafeBufferPointer(start: partition.isrs, count: Int(partition.isr_cnt)))
                    )
                }
                .sorted { $0.partition < $1.partition }
        }
        return .success(layout)
    }

    /// The low and high watermarks of one partition: the first offset still stored and the
    /// offset the next message will get.
    func watermarks(topic: String, partition: Int32, timeout: Int32 = 5000) -> Result<
        (low: Int64, high: Int64), KafkaError
    > {
        var low: Int64 = 0
        var high: Int64 = 0
        let error = rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, timeout)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            return .failure(KafkaError(error, context: "watermarks of \(topic)/\(partition)"))
        }
        return .success((low, high))
    }
}

/// Where one partition lives: its leader and replicas (broker ids).
struct KafkaPartitionLayout: Sendable, Equatable {
    let partition: Int32
    let leader: Int32
    let replicas: [Int32]
    let inSyncReplicas: [Int32]
}

extension RDKafkaClient {
    /// The first offset of `partition` whose message has a timestamp at or after `time`
    /// (milliseconds since 1970), by the broker's own index (Kafka's offsets-for-times lookup);
    /// the high watermark when there is none. Fails on a broker that cannot answer it.
    func offset(atOrAfter time: Int64, topic: String, partition: Int32, timeout: Int32 = 5000) -> Result<
        Int64, KafkaError
    > {
        let list = PartitionList(capacity: 1)
        list.add(topic: topic, partition: partition, offset: time)
        var error = rd_kafka_offsets_for_times(handle, list.pointer, timeout)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            return .failure(KafkaError(error, context: "offsets for times of \(topic)/\(partition)"))
        }
        guard let found = list.entries.first else {
            return .failure(KafkaError(RD_KAFKA_RESP_ERR__BAD_MSG, context: "offsets for times of \(topic)"))
        }
        error = found.err
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            return .failure(KafkaError(error, context: "offsets for times of \(topic)/\(partition)"))
        }
        if found.offset >= 0 { return .success(found.offset) }
        return watermarks(topic: topic, partition: partition, timeout: timeout).map(\.high)
    }

    /// The partition of `count` that Kafka's default partitioner (murmur2, as Java clients and
    /// librdkafka's `murmur2_random` use it) gives a message keyed `key`.
    static func partition(ofKey key: [UInt8], count: Int32) -> Int32 {
        key.withUnsafeBytes { bytes in
            rd_kafka_msg_partitioner_murmur2(nil, bytes.baseAddress, bytes.count, count, nil, nil)
        }
    }
}
