import CRDKafka
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import ServiceLifecycle

/// An at-least-once Kafka consumer running as a `Service`.
///
/// A dedicated thread polls librdkafka (never the cooperative pool); messages are handed to the
/// handler in partition order, one by one or as whole polled batches, and their offsets are
/// stored for the background commit only after the handler returned (once per polled batch).
/// A failing handler is retried with backoff, so a message is never skipped by accident:
/// handlers skip poison messages themselves, on purpose, by returning.
/// On graceful shutdown the current message finishes, and closing the consumer commits the
/// stored offsets.
public final class KafkaConsumer: Service, Sendable {
    /// Applies one message; throwing means "not applied, try again".
    public typealias Handler = @Sendable (KafkaMessage) async throws -> Void
    /// Applies every message of one poll (in partition order); throwing means "retry them all".
    public typealias BatchHandler = @Sendable ([KafkaMessage]) async throws -> Void

    private enum Work {
        case each(Handler)
        case batch(BatchHandler)
    }

    private let client: RDKafkaClient
    private let settings: KafkaConsumerSettings
    private let logger: Logger
    private let work: Work
    private let pollThread = NIOThreadPool(numberOfThreads: 1)
    private let catchUp = NIOLockedValueBox(CatchUp())
    private let stopping = NIOLockedValueBox(false)
    private let pendingRewind = NIOLockedValueBox<String?>(nil)
    private let metrics: ConsumerMetrics

    /// A consumer handing messages to `handler` one at a time; each offset is stored after its message.
    public convenience init(settings: KafkaConsumerSettings, logger: Logger, handler: @escaping Handler) throws {
        try self.init(settings: settings, logger: logger, work: .each(handler))
    }

    /// A consumer handing each polled batch to `batchHandler` at once (at most
    /// ``KafkaConsumerSettings/maxBatch`` messages); the offsets are stored after the whole batch.
    public convenience init(
        settings: KafkaConsumerSettings, logger: Logger, batchHandler: @escaping BatchHandler
    ) throws {
        try self.init(settings: settings, logger: logger, work: .batch(batchHandler))
    }

    private init(settings: KafkaConsumerSettings, logger: Logger, work: Work) throws {
        self.settings = settings
        self.logger = logger
        self.work = work
        self.metrics = ConsumerMetrics(group: settings.groupID)
        self.client = try RDKafkaClient(kind: .consumer, settings: settings.librdkafkaSettings, logger: logger)
        rd_kafka_poll_set_consumer(client.handle)
    }

    /// Whether every assigned partition has been read up to the end it had when the consumer
    /// started (always true for group subscriptions once subscribed).
    public var isCaughtUp: Bool { catchUp.withLockedValue { $0.isCaughtUp } }

    /// For a consumer of `.allPartitions`: the partitions it had to read from the beginning
    /// whose beginning is no longer offset 0 (partition → low watermark). On a compacted topic
    /// that means history was lost, and what the consumer builds from it is incomplete.
    public var partitionsMissingHistory: [Int32: Int64] { catchUp.withLockedValue { $0.missingHistory } }

    /// Why this client can no longer work (a fatal librdkafka error), for `/health/live`; nil while it can.
    public var fatalProblem: String? { client.fatalError.map { "kafka: fatal error: \($0.message)" } }

    public func run() async throws {
        pollThread.start()
        do {
            try await withTaskCancellationHandler {
                try await withGracefulShutdownHandler {
                    try await consume()
                } onGracefulShutdown: {
                    self.stopping.withLockedValue { $0 = true }
                }
            } onCancel: {
                self.stopping.withLockedValue { $0 = true }
            }
        } catch {
            await close()
            throw error
        }
        await close()
    }

    /// Asks a consumer of `.allPartitions` to assign its partitions again from what its
    /// `startOffsets` says now, dropping what it has polled: for a handler whose state was lost
    /// (a replica's wiped Redis). Handlers can also throw ``LostConsumerState``.
    public func requestRewind(reason: String) {
        pendingRewind.withLockedValue { $0 = $0 ?? reason }
    }

    private var isStopping: Bool { stopping.withLockedValue { $0 } }

    private func consume() async throws {
        try await start()
        while !isStopping {
            if let reason = pendingRewind.withLockedValue({ reason in
                defer { reason = nil }; return reason
            }) {
                try await rewind(reason: reason)
                continue
            }
            let batch = try await pollThread.runIfActive { [self] in pollBatch() }
            guard !batch.isEmpty else {
                metrics.refreshLag(client: client)
                continue
            }
            switch work {
            case .each(let handler):
                // Offsets are stored once for the applied prefix of the poll, not per message.
                var applied = 0
                for message in batch {
                    guard await handleUntilApplied([message], { try await handler(message) }) == .applied else { break }
                    applied += 1
                }
                if applied > 0 { markApplied(batch[..<applied]) }
            case .batch(let handler):
                if await handleUntilApplied(batch, { try await handler(batch) }) == .applied { markApplied(batch[...]) }
            }
        }
    }

    private func rewind(reason: String) async throws {
        guard case .allPartitions = settings.assignment else {
            logger.warning(
                "Ignoring a rewind request: only consumers of all partitions rewind", metadata: ["reason": "\(reason)"])
            return
        }
        logger.warning(
            "Handler state lost; assigning the partitions again from the start offsets",
            metadata: ["reason": "\(reason)"])
        try await start()
    }

    // MARK: Starting

    private func start() async throws {
        switch settings.assignment {
        case .subscribe(let topics):
            let list = rd_kafka_topic_partition_list_new(Int32(topics.count))!
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for topic in topics { rd_kafka_topic_partition_list_add(list, topic, shortener_partition_unassigned) }
            let error = rd_kafka_subscribe(client.handle, list)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(error, context: "subscribe") }
            catchUp.withLockedValue { $0 = CatchUp(isCaughtUp: true) }
            logger.info(
                "Subscribed",
                metadata: [
                    "kafka.topics": "\(topics.joined(separator: ","))",
                    "kafka.group": "\(settings.groupID)",
                ])
        case .allPartitions(let topic, let startOffsets):
            let partitions = try await waitForPartitions(of: topic)
            var delay = Duration.milliseconds(100)
            var offsets: [Int32: Int64]
            while true {
                do {
                    offsets = try await startOffsets(partitions)
                    break
                } catch {
                    logger.error(
                        "Reading the start offsets failed; retrying",
                        metadata: ["error": "\(error)", "retry.delay": "\(delay)"])
                    try await Task.sleep(for: delay)
                    if isStopping { throw CancellationError() }
                    delay = min(delay * 2, settings.maxRetryDelay)
                }
            }
            try await pollThread.runIfActive { [self, offsets] in
                try assign(topic: topic, partitions: partitions, offsets: offsets)
            }
        }
    }

    /// Reads the topic's partition count from the cluster, waiting while the topic does not exist.
    private func waitForPartitions(of topic: String) async throws -> [Int32] {
        var attempt = 0
        while !isStopping {
            let result = try await pollThread.runIfActive { [self] in partitionCount(of: topic) }
            switch result {
            case .success(let count) where count > 0:
                return (0..<count).map { $0 }
            case .success:
                if attempt % 10 == 0 {
                    logger.warning("Waiting for topic to exist", metadata: ["kafka.topic": "\(topic)"])
                }
            case .failure(let error):
                if attempt % 10 == 0 {
                    logger.warning("Cannot read topic metadata yet", metadata: ["error": "\(error)"])
                }
            }
            attempt += 1
            try await Task.sleep(for: .milliseconds(500))
        }
        throw CancellationError()
    }

    private func partitionCount(of topic: String) -> Result<Int32, KafkaError> {
        client.partitionLayout(of: topic).map { Int32($0[topic]?.count ?? 0) }
    }

    /// Assigns every partition at its start offset and records how far each must be read to
    /// count as caught up (its high watermark now).
    private func assign(topic: String, partitions: [Int32], offsets: [Int32: Int64]) throws {
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        var remaining: [Int32: Int64] = [:]
        var positions: [PartitionKey: Int64] = [:]
        var highWatermarks: [PartitionKey: Int64] = [:]
        var missingHistory: [Int32: Int64] = [:]
        for partition in partitions {
            let entry = rd_kafka_topic_partition_list_add(list, topic, partition)!
            let start = offsets[partition] ?? shortener_offset_beginning
            entry.pointee.offset = start
            guard case .success(let marks) = client.watermarks(topic: topic, partition: partition) else { continue }
            if offsets[partition] == nil, marks.low > 0 { missingHistory[partition] = marks.low }
            let readsBacklog = start != KafkaConsumerSettings.newMessagesOnly
            if readsBacklog, marks.high > max(start, marks.low) { remaining[partition] = marks.high }
            let key = PartitionKey(topic: topic, partition: partition)
            positions[key] = readsBacklog ? max(start, marks.low) : marks.high
            highWatermarks[key] = marks.high
        }
        metrics.assigned(positions, highWatermarks: highWatermarks)
        let error = rd_kafka_assign(client.handle, list)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(error, context: "assign \(topic)") }
        catchUp.withLockedValue {
            $0 = CatchUp(isCaughtUp: remaining.isEmpty, remaining: remaining, missingHistory: missingHistory)
        }
        if !missingHistory.isEmpty {
            logger.error(
                "Reading from the beginning, but the topic no longer starts at offset 0: its history was lost, and what is built from it is incomplete",
                metadata: ["kafka.topic": "\(topic)", "kafka.low_watermarks": "\(missingHistory.sorted { $0.key < $1.key })"])
        }
        logger.info(
            "Assigned all partitions",
            metadata: [
                "kafka.topic": "\(topic)", "kafka.partitions": "\(partitions.count)",
                "kafka.start_offsets": "\(partitions.map { offsets[$0].map(String.init) ?? "beginning" })",
                "kafka.group": "\(settings.groupID)",
            ])
    }

    // MARK: Consuming

    /// Blocks up to 100 ms for the first message, then takes what is already there.
    private func pollBatch() -> [KafkaMessage] {
        var batch: [KafkaMessage] = []
        var timeout: Int32 = 100
        while batch.count < settings.maxBatch, let raw = rd_kafka_consumer_poll(client.handle, timeout) {
            timeout = 0
            defer { rd_kafka_message_destroy(raw) }
            let message = raw.pointee
            guard message.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                if message.err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    logger.warning(
                        "Kafka consumer error",
                        metadata: [
                            "error": "\(KafkaError(message.err, context: "consume"))"
                        ])
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
                    key: key, value: value, headers: Self.headers(of: raw), timestamp: timestamp >= 0 ? timestamp : nil))
        }
        return batch
    }

    /// How handing messages over ended.
    private enum Handling {
        /// The handler succeeded.
        case applied
        /// The consumer is stopping, or its handler's state was lost (a rewind is pending).
        case abandoned
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

    /// Runs `apply` until it succeeds, the consumer stops, or a rewind is requested.
    private func handleUntilApplied(_ messages: [KafkaMessage], _ apply: () async throws -> Void) async -> Handling {
        var delay = Duration.milliseconds(100)
        while true {
            do {
                try await apply()
                return .applied
            } catch let lost as any LostConsumerState {
                requestRewind(reason: "\(lost)")
                return .abandoned
            } catch {
                let first = messages[0]
                logger.error(
                    "Handling messages failed; retrying",
                    metadata: first.logMetadata.merging([
                        "kafka.messages": "\(messages.count)", "error": "\(String(reflecting: error))",
                        "retry.delay": "\(delay)",
                    ]) { $1 })
                try? await Task.sleep(for: delay)
                if isStopping || pendingRewind.withLockedValue({ $0 != nil }) { return .abandoned }
                delay = min(delay * 2, settings.maxRetryDelay)
            }
        }
    }

    /// Stores, per partition, the offset after the last applied message for the background
    /// commit, and advances the catch-up tracking.
    private func markApplied(_ messages: ArraySlice<KafkaMessage>) {
        var next: [PartitionKey: Int64] = [:]
        for message in messages {
            let key = PartitionKey(topic: message.topic, partition: message.partition)
            next[key] = max(next[key] ?? 0, message.offset + 1)
        }
        let list = rd_kafka_topic_partition_list_new(Int32(next.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (key, offset) in next {
            rd_kafka_topic_partition_list_add(list, key.topic, key.partition)!.pointee.offset = offset
        }
        let error = rd_kafka_offsets_store(client.handle, list)
        // ERR__STATE: the partition was revoked by a rebalance meanwhile; its new owner re-reads it.
        if error != RD_KAFKA_RESP_ERR_NO_ERROR && error != RD_KAFKA_RESP_ERR__STATE {
            logger.warning(
                "Storing an offset failed", metadata: ["error": "\(KafkaError(error, context: "offsets store"))"])
        }
        catchUp.withLockedValue { catchUp in
            for (key, offset) in next { catchUp.applied(partition: key.partition, offset: offset - 1) }
        }
        metrics.applied(messages, next: next, client: client)
    }

    /// Leaves the group (committing stored offsets) and destroys the client.
    private func close() async {
        _ = try? await pollThread.runIfActive { [self] in
            let error = rd_kafka_consumer_close(client.handle)
            if error != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.warning(
                    "Closing the consumer failed", metadata: ["error": "\(KafkaError(error, context: "close"))"])
            }
            client.destroy()
        }
        try? await pollThread.shutdownGracefully()
    }
}

/// Thrown by a handler whose own state was lost (a replica's Redis came back empty): the
/// consumer drops what it polled and assigns its partitions again from the start offsets.
public protocol LostConsumerState: Error {}

/// One partition of one topic.

/// How far each partition still has to be read before the consumer has caught up.
private struct CatchUp {
    var isCaughtUp = false
    /// Partition → offset (exclusive) it must reach.
    var remaining: [Int32: Int64] = [:]
    /// Partition → low watermark, for partitions read from the beginning that no longer start at 0.
    var missingHistory: [Int32: Int64] = [:]

    mutating func applied(partition: Int32, offset: Int64) {
        guard !isCaughtUp, let target = remaining[partition], offset + 1 >= target else { return }
        remaining[partition] = nil
        isCaughtUp = remaining.isEmpty
    }
}

