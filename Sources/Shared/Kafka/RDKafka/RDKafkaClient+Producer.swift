import CRDKafka

/// The producer side of a handle created with delivery reports.
extension RDKafkaClient {
    /// Enqueues one message (copied) to `partition` of `topic` (nil: the partitioner decides by
    /// key), with `opaque` (a retained ``KafkaDelivery``, or nil when nobody waits for the
    /// outcome) handed to its delivery report.
    /// `timestamp` nil means now. Never blocks; fails when the local queue is full.
    func produce(
        topic: String, partition: Int32?, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader], timestamp: Int64?,
        opaque: UnsafeMutableRawPointer?
    ) throws(KafkaError) {
        let topicHandle = try topicHandle(topic)
        let headerList: OpaquePointer? = headers.isEmpty ? nil : rd_kafka_headers_new(headers.count)
        for header in headers {
            header.value.withUnsafeBytes { bytes in
                _ = rd_kafka_header_add(headerList, header.name, -1, bytes.baseAddress, bytes.count)
            }
        }
        let result = value.withUnsafeBytes { payload in
            (key ?? []).withUnsafeBytes { keyBytes in
                shortener_produce(
                    handle, topicHandle, partition ?? shortener_partition_unassigned,
                    key == nil ? nil : keyBytes.baseAddress, keyBytes.count, payload.baseAddress, payload.count,
                    headerList, timestamp ?? 0, opaque)
            }
        }
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
            // On failure the headers stay ours.
            if let headerList { rd_kafka_headers_destroy(headerList) }
            throw KafkaError(result, context: "produce to \(topic)")
        }
    }

    /// Serves delivery reports (and other callbacks), waiting up to `timeoutMilliseconds`.
    func serveCallbacks(timeoutMilliseconds: Int32) { rd_kafka_poll(handle, timeoutMilliseconds) }

    /// Messages queued or in flight.
    var pendingMessages: Int32 { rd_kafka_outq_len(handle) }

    /// Waits up to `timeoutMilliseconds` until every queued message was delivered or failed;
    /// false when time ran out first.
    func flush(timeoutMilliseconds: Int32) -> Bool {
        rd_kafka_flush(handle, timeoutMilliseconds) == RD_KAFKA_RESP_ERR_NO_ERROR
    }

    /// Fails every queued and in-flight message (their delivery reports say so).
    func purgeQueuedAndInFlight() {
        rd_kafka_purge(handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
    }
}
