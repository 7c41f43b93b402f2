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
    private let state = NIOLockedValueBox(StateMachine())
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
    }

    /// Whether every assigned partition has been read up to the end it had when the consumer
    /// started (always true for group subscriptions once subscribed).
    public var isCaughtUp: Bool { state.withLockedValue { $0.isCaughtUp } }

    /// For a consumer of `.allPartitions`: the partitions it had to read from the beginning
    /// whose beginning is no longer offset 0 (partition → low watermark). On a compacted topic
    /// that means history was lost, and what the consumer builds from it is incomplete.
    public var partitionsMissingHistory: [Int32: Int64] { state.withLockedValue { $0.missingHistory } }

    /// Why this client can no longer work (a fatal librdkafka error), for `/health/live`; nil while it can.
    public var fatalProblem: String? { client.fatalError.map { "kafka: fatal error: \($0.message)" } }

    public func run() async throws {
        pollThread.start()
        do {
            try await withTaskCancellationHandler {
                try await withGracefulShutdownHandler {
                    try await consume()
                } onGracefulShutdown: {
                    self.state.withLockedValue { $0.stop() }
                }
            } onCancel: {
                self.state.withLockedValue { $0.stop(abandoningClose: true) }
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
        state.withLockedValue { $0.requestRewind(reason: reason) }
    }

    private var isStopping: Bool { state.withLockedValue { $0.isStopping } }

    private func consume() async throws {
        if try await start() { await finishCatchingUp() }
        while true {
            switch state.withLockedValue({ $0.nextStep() }) {
            case .stop: return
            case .rewind(let reason):
                if try await rewind(reason: reason) { await finishCatchingUp() }
                continue
            case .poll: break
            }
            let batch = try await pollThread.runIfActive { [self] in pollBatch() }
            guard !batch.isEmpty else {
                metrics.refreshLag(client: client)
                continue
            }
            var readToEnd = false
            switch work {
            case .each(let handler):
                // Offsets are stored once for the applied prefix of the poll, not per message.
                var applied = 0
                for message in batch {
                    guard await handleUntilApplied(message.logMetadata, { try await handler(message) }) == .applied
                    else { break }
                    applied += 1
                }
                if applied > 0 { readToEnd = markApplied(batch[..<applied]) }
            case .batch(let handler):
                let handled = await handleUntilApplied(
                    batch[0].logMetadata.merging(["kafka.messages": "\(batch.count)"]) { $1 },
                    { try await handler(batch) })
                if handled == .applied { readToEnd = markApplied(batch[...]) }
            }
            if readToEnd { await finishCatchingUp() }
        }
    }

    /// The partitions are read to the end they had when assigned: runs the assignment's
    /// `caughtUp` step, if any, until it succeeds, then counts as caught up. A rewind or a stop
    /// meanwhile leaves it not caught up.
    private func finishCatchingUp() async {
        if case .allPartitions(_, _, let caughtUp?) = settings.assignment {
            guard await handleUntilApplied(["kafka.step": "caught-up"], caughtUp) == .applied else { return }
        }
        state.withLockedValue { $0.caughtUp() }
    }

    /// Assigns the partitions again; returns whether they are read to their end already.
    private func rewind(reason: String) async throws -> Bool {
        guard case .allPartitions = settings.assignment else {
            logger.warning(
                "Ignoring a rewind request: only consumers of all partitions rewind", metadata: ["reason": "\(reason)"])
            return false
        }
        logger.warning(
            "Handler state lost; assigning the partitions again from the start offsets",
            metadata: ["reason": "\(reason)"])
        return try await start()
    }

    // MARK: Starting

    /// Subscribes or assigns; returns whether the assigned partitions are read to their end
    /// already (false for a subscription, which counts as caught up at once).
    private func start() async throws -> Bool {
        switch settings.assignment {
        case .subscribe(let topics):
            try client.subscribe(to: topics)
            state.withLockedValue { $0.subscribed() }
            logger.info(
                "Subscribed",
                metadata: [
                    "kafka.topics": "\(topics.joined(separator: ","))",
                    "kafka.group": "\(settings.groupID)",
                ])
            return false
        case .allPartitions(let topic, let startOffsets, _):
            let partitions = try await waitForPartitions(of: topic)
            var offsets: [Int32: Int64]
            var failures = 0
            while true {
                do {
                    offsets = try await startOffsets(partitions)
                    break
                } catch {
                    failures += 1
                    logger.error(
                        "Reading the start offsets failed; retrying",
                        metadata: ["error": "\(error)", "retry.attempt": "\(failures)"])
                    try await settings.retry.sleep(beforeRetry: failures)
                    if isStopping { throw CancellationError() }
                }
            }
            return try await pollThread.runIfActive { [self, offsets] in
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
    /// count as caught up (its high watermark now); returns whether nothing remains to be read.
    private func assign(topic: String, partitions: [Int32], offsets: [Int32: Int64]) throws -> Bool {
        var startOffsets: [(partition: Int32, offset: Int64)] = []
        var remaining: [Int32: Int64] = [:]
        var positions: [PartitionKey: Int64] = [:]
        var highWatermarks: [PartitionKey: Int64] = [:]
        var missingHistory: [Int32: Int64] = [:]
        var beyondTheEnd: [String] = []
        for partition in partitions {
            var start = offsets[partition] ?? RDKafkaClient.offsetBeginning
            guard case .success(let marks) = client.watermarks(topic: topic, partition: partition) else {
                startOffsets.append((partition, start))
                continue
            }
            // The handler stored an offset the partition never reached: the broker lost messages
            // the handler had applied (a dev broker killed before it wrote them), and messages
            // produced since get those offsets again. Where the loss began is unknown, so the
            // partition is read again from its beginning (handlers are idempotent); starting at
            // the stored offset would skip the new messages in silence.
            if start > marks.high {
                beyondTheEnd.append("partition \(partition): stored \(start), ends at \(marks.high)")
                start = RDKafkaClient.offsetBeginning
            }
            startOffsets.append((partition, start))
            if offsets[partition] == nil, marks.low > 0 { missingHistory[partition] = marks.low }
            let readsBacklog = start != KafkaConsumerSettings.newMessagesOnly
            if readsBacklog, marks.high > max(start, marks.low) { remaining[partition] = marks.high }
            let key = PartitionKey(topic: topic, partition: partition)
            positions[key] = readsBacklog ? max(start, marks.low) : marks.high
            highWatermarks[key] = marks.high
        }
        metrics.assigned(positions, highWatermarks: highWatermarks)
        try client.assign(topic: topic, startOffsets: startOffsets)
        let readToEnd = state.withLockedValue { $0.assigned(remaining: remaining, missingHistory: missingHistory) }
        if !beyondTheEnd.isEmpty {
            logger.error(
                "The topic ends before the offsets this consumer stored: the broker lost messages; reading those partitions again from their beginning",
                metadata: ["kafka.topic": "\(topic)", "kafka.partitions": "\(beyondTheEnd)"])
        }
        if !missingHistory.isEmpty {
            logger.error(
                "Reading from the beginning, but the topic no longer starts at offset 0: its history was lost, and what is built from it is incomplete",
                metadata: [
                    "kafka.topic": "\(topic)", "kafka.low_watermarks": "\(missingHistory.sorted { $0.key < $1.key })",
                ])
        }
        logger.info(
            "Assigned all partitions",
            metadata: [
                "kafka.topic": "\(topic)", "kafka.partitions": "\(partitions.count)",
                "kafka.start_offsets": "\(partitions.map { offsets[$0].map(String.init) ?? "beginning" })",
                "kafka.group": "\(settings.groupID)",
            ])
        return readToEnd
    }

    // MARK: Consuming

    /// Blocks up to 100 ms for the first message, then takes what is already there.
    private func pollBatch() -> [KafkaMessage] {
        client.poll(maximum: settings.maxBatch, timeoutMilliseconds: 100) { error in
            logger.warning("Kafka consumer error", metadata: ["error": "\(error)"])
        }
    }

    /// How handing messages over ended.
    private enum Handling {
        /// The handler succeeded.
        case applied
        /// The consumer is stopping, or its handler's state was lost (a rewind is pending).
        case abandoned
    }

    /// Runs `apply` until it succeeds, the consumer stops, or a rewind is requested; `metadata`
    /// names what it applies in the log lines of failed tries.
    private func handleUntilApplied(
        _ metadata: @autoclosure () -> Logger.Metadata, _ apply: () async throws -> Void
    ) async -> Handling {
        var failures = 0
        while true {
            do {
                try await apply()
                return .applied
            } catch let lost as any LostConsumerState {
                requestRewind(reason: "\(lost)")
                return .abandoned
            } catch {
                failures += 1
                logger.error(
                    "Handling messages failed; retrying",
                    metadata: metadata().merging([
                        "error": "\(String(reflecting: error))", "retry.attempt": "\(failures)",
                    ]) { $1 })
                try? await settings.retry.sleep(beforeRetry: failures)
                if state.withLockedValue({ $0.abandonsRetries }) { return .abandoned }
            }
        }
    }

    /// Stores, per partition, the offset after the last applied message for the background
    /// commit, and advances the catch-up tracking; returns whether that read the partitions to
    /// the end they had when assigned.
    private func markApplied(_ messages: ArraySlice<KafkaMessage>) -> Bool {
        var next: [PartitionKey: Int64] = [:]
        for message in messages {
            let key = PartitionKey(topic: message.topic, partition: message.partition)
            next[key] = max(next[key] ?? 0, message.offset + 1)
        }
        do {
            try client.storeOffsets(next)
        } catch {
            logger.warning("Storing an offset failed", metadata: ["error": "\(error)"])
        }
        let readToEnd = state.withLockedValue { $0.applied(nextOffsets: next) }
        metrics.applied(messages, next: next, client: client)
        return readToEnd
    }

    /// Leaves the group (committing stored offsets) and destroys the client; gives up on leaving
    /// after ``KafkaConsumerSettings/closeTimeout`` or at once when cancelled (a broker that is
    /// gone), so that the process still stops within its shutdown time.
    private func close() async {
        _ = try? await pollThread.runToCompletion { [self] in
            do {
                guard
                    try client.closeConsumer(
                        within: settings.closeTimeout, while: { !state.withLockedValue { $0.isCloseAbandoned } })
                else {
                    logger.warning("The consumer could not leave its group in time; stopping without")
                    client.abandon()
                    return
                }
            } catch {
                logger.warning("Closing the consumer failed", metadata: ["error": "\(error)"])
            }
            client.destroy()
        }
        try? await pollThread.shutdownGracefully()
    }
}

/// Thrown by a handler whose own state was lost (a replica's Redis came back empty): the
/// consumer drops what it polled and assigns its partitions again from the start offsets.
public protocol LostConsumerState: Error {}
