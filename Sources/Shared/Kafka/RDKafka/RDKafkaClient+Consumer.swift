import CRDKafka

/// The consumer side of a handle. Blocking calls (poll, close, committed) run on the caller's
/// dedicated thread, never on the cooperative pool.
extension RDKafkaClient {
    /// The start offset "from the beginning of the partition".
    static let offsetBeginning: Int64 = shortener_offset_beginning
    /// The start offset "at the end of the partition": only messages produced from now on.
    static let offsetEnd: Int64 = shortener_offset_end

    /// Joins the handle's group for `topics`; the group balances their partitions.
    func subscribe(to topics: [String]) throws(KafkaError) {
        let list = PartitionList(capacity: topics.count)
        for topic in topics { list.add(topic: topic, partition: shortener_partition_unassigned) }
        let error = rd_kafka_subscribe(handle, list.pointer)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(error, context: "subscribe") }
    }

    /// Reads exactly these partitions of `topic`, each from its offset.
    func assign(topic: String, startOffsets: [(partition: Int32, offset: Int64)]) throws(KafkaError) {
        let list = PartitionList(capacity: startOffsets.count)
        for (partition, offset) in startOffsets { list.add(topic: topic, partition: partition, offset: offset) }
        let error = rd_kafka_assign(handle, list.pointer)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(error, context: "assign \(topic)") }
    }

    /// Waits up to `timeoutMilliseconds` for a first message, then takes up to `maximum` that are
    /// already there, copied out of librdkafka's memory. Errors other than "end of partition"
    /// go to `onError`; they do not end the poll.
    func poll(maximum: Int, timeoutMilliseconds: Int32, onError: (KafkaError) -> Void) -> [KafkaMessage] {
        var batch: [KafkaMessage] = []
        var timeout = timeoutMilliseconds
        while batch.count < maximum, let raw = rd_kafka_consumer_poll(handle, timeout) {
            timeout = 0
            defer { rd_kafka_message_destroy(raw) }
            let message = raw.pointee
            guard message.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                if message.err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    onError(KafkaError(message.err, context: "consume"))
                }
                continue
            }
            let topic = message.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
            let key = message.key.map { Array(UnsafeRawBufferPointer(start: $0, count: message.key_len)) }
            let value = message.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: message.len)) } ?? []
            var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
            let timestamp = rd_kafka_message_timestamp(raw, &timestampType)
            batch.append(
                KafkaMessage(
                    topic: topic, partition: message.partition, offset: message.offset,
                    key: key, value: value, headers: Self.headers(of: raw), timestamp: timestamp >= 0 ? timestamp : nil)
            )
        }
        return batch
    }

    /// Copies the message's headers (none for most messages).
    private static func headers(of message: UnsafeMutablePointer<rd_kafka_message_t>) -> [KafkaHeader] {
        var list: OpaquePointer?
        guard rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return [] }
        var headers: [KafkaHeader] = []
        var index = 0
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while rd_kafka_header_get_all(list, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            if let name {
                let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                headers.append(KafkaHeader(String(cString: name), bytes))
            }
            index += 1
        }
        return headers
    }

    /// Stores `nextOffsets` (partition → next offset to read) for the background commit. A
    /// partition that a rebalance revoked meanwhile is skipped silently: its new owner re-reads it.
    func storeOffsets(_ nextOffsets: [PartitionKey: Int64]) throws(KafkaError) {
        let list = PartitionList(capacity: nextOffsets.count)
        for (key, offset) in nextOffsets { list.add(topic: key.topic, partition: key.partition, offset: offset) }
        let error = rd_kafka_offsets_store(handle, list.pointer)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR || error == RD_KAFKA_RESP_ERR__STATE else {
            throw KafkaError(error, context: "offsets store")
        }
    }

    /// Commits `nextOffsets` for the handle's group, synchronously, without joining it.
    func commit(_ nextOffsets: [PartitionKey: Int64]) throws(KafkaError) {
        let list = PartitionList(capacity: nextOffsets.count)
        for (key, offset) in nextOffsets { list.add(topic: key.topic, partition: key.partition, offset: offset) }
        let error = rd_kafka_commit(handle, list.pointer, 0)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(error, context: "commit offsets") }
    }

    /// The offsets the handle's group committed for `partitions` (partitions without one are
    /// left out). Blocks up to `timeoutMilliseconds`.
    func committedOffsets(of partitions: [PartitionKey], timeoutMilliseconds: Int32) throws(KafkaError)
        -> [PartitionKey:
        Int64]
    {
        let list = PartitionList(capacity: partitions.count)
        for key in partitions { list.add(topic: key.topic, partition: key.partition) }
        let error = rd_kafka_committed(handle, list.pointer, timeoutMilliseconds)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(error, context: "committed offsets") }
        var committed: [PartitionKey: Int64] = [:]
        for entry in list.entries where entry.err == RD_KAFKA_RESP_ERR_NO_ERROR && entry.offset >= 0 {
            committed[PartitionKey(topic: String(cString: entry.topic), partition: entry.partition)] = entry.offset
        }
        return committed
    }

    /// Leaves the group, committing the stored offsets, for at most `timeout` and only while
    /// `goOn` says so: with the broker gone, librdkafka's own close waits for it without a bound.
    /// Returns whether the close finished; if not, the client can only be ``abandon()``ed.
    func closeConsumer(within timeout: Duration, while goOn: () -> Bool) throws(KafkaError) -> Bool {
        guard let queue = rd_kafka_queue_new(handle) else { throw KafkaError.closed("close") }
        defer { rd_kafka_queue_destroy(queue) }
        if let error = rd_kafka_consumer_close_queue(handle, queue) {
            let code = rd_kafka_error_code(error)
            rd_kafka_error_destroy(error)
            throw KafkaError(code, context: "close")
        }
        let deadline = ContinuousClock.now + timeout
        while rd_kafka_consumer_closed(handle) == 0 {
            guard ContinuousClock.now < deadline, goOn() else { return false }
            if let event = rd_kafka_queue_poll(queue, 100) { rd_kafka_event_destroy(event) }
        }
        return true
    }

    /// The watermarks librdkafka last saw for a partition it fetches (no request to the broker);
    /// nil while it knows none.
    func cachedWatermarks(topic: String, partition: Int32) -> (low: Int64, high: Int64)? {
        var low: Int64 = 0
        var high: Int64 = 0
        guard rd_kafka_get_watermark_offsets(handle, topic, partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR,
            high >= 0
        else { return nil }
        return (low, high)
    }
}

/// Owns one `rd_kafka_topic_partition_list_t` for the span of a call.
final class PartitionList {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(capacity: Int) { pointer = rd_kafka_topic_partition_list_new(Int32(capacity)) }

    func add(topic: String, partition: Int32, offset: Int64? = nil) {
        let entry = rd_kafka_topic_partition_list_add(pointer, topic, partition)!
        if let offset { entry.pointee.offset = offset }
    }

    var entries: UnsafeBufferPointer<rd_kafka_topic_partition_t> {
        UnsafeBufferPointer(start: pointer.pointee.elems, count: Int(pointer.pointee.cnt))
    }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }
}
