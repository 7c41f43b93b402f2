import CRDKafka

/// Admin requests on a handle: each one is sent on its own queue and its result event read back,
/// blocking the caller's thread for at most the request timeout plus one second.
extension RDKafkaClient {
    /// The ids of every consumer group the cluster knows.
    func listConsumerGroups(timeoutMilliseconds: Int32) throws(KafkaError) -> [String] {
        try adminRequest(RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, "list consumer groups", timeoutMilliseconds) {
            options, queue in
            rd_kafka_ListConsumerGroups(handle, options, queue)
        } result: { event throws(KafkaError) in
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

    /// Creates `topics`; returns each topic's error, nil where it was created.
    func createTopics(_ topics: [(name: String, definition: TopicDefinition)], timeoutMilliseconds: Int32)
        throws(KafkaError) -> [String: KafkaError?]
    {
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
                guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(error, context: "\(name) \(key)") }
            }
        }
        return try adminRequest(RD_KAFKA_ADMIN_OP_CREATETOPICS, "create topics", timeoutMilliseconds) {
            options, queue in
            rd_kafka_CreateTopics(handle, &newTopics, newTopics.count, options, queue)
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

    /// The configs of `topic` as the cluster applies them (explicit and default values).
    func describeConfigs(of topic: String, timeoutMilliseconds: Int32) throws(KafkaError) -> [String: String] {
        var resources: [OpaquePointer?] = [rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic)]
        defer { resources.forEach { rd_kafka_ConfigResource_destroy($0) } }
        return try adminRequest(RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, "describe configs of \(topic)", timeoutMilliseconds)
        {
            options, queue in
            rd_kafka_DescribeConfigs(handle, &resources, resources.count, options, queue)
        } result: { event throws(KafkaError) in
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

    /// Sends one admin request with `send(options, queue)` and reads its result event with
    /// `result`, after checking the event's own error.
    private func adminRequest<Value>(
        _ operation: rd_kafka_admin_op_t, _ context: String, _ timeoutMilliseconds: Int32,
        send: (OpaquePointer?, OpaquePointer?) -> Void,
        result: (OpaquePointer) throws(KafkaError) -> Value
    ) throws(KafkaError) -> Value {
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(handle, operation)
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
