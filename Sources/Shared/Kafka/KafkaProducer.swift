#if canImport(Glibc)
    import Glibc
#endif
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A Kafka producer whose sends can be awaited until the broker acknowledged them; idempotent
/// unless its settings ask for at-most-once delivery (``KafkaProducerSettings/Delivery``).
///
/// Messages are enqueued synchronously in call order (so one key's messages keep their order),
/// each with a ``KafkaDelivery`` that a dedicated poll thread completes from librdkafka's
/// delivery report. Run it as a `Service`: on graceful shutdown it stops accepting messages,
/// flushes what is queued (up to ``KafkaProducerSettings/flushTimeoutMilliseconds``), fails the
/// rest and destroys the client.
public final class KafkaProducer: Service, Sendable {
    let client: RDKafkaClient
    private let settings: KafkaProducerSettings
    private let logger: Logger
    private let pollThread = NIOThreadPool(numberOfThreads: 1)
    private let state: NIOLockedValueBox<State>
    /// Open to sends until the poll thread closes the client: sends pass it without a lock.
    private let gate = SendGate()

    private struct State {
        var stopRequested = false
        /// Cancelled: the flush gives up at once instead of waiting out its timeout.
        var flushAbandoned = false
        /// The topics whose partitions are still unknown (see ``isPrepared``).
        var unprepared: [String]
    }

    /// Whether the partitions of the topics named at init are known. librdkafka learns a
    /// topic's partitions on its first send and then waits for its next metadata scan, up to a
    /// second: a producer that is not prepared sends its first messages that much later.
    public var isPrepared: Bool { state.withLockedValue { $0.unprepared.isEmpty } }

    /// Why this client can no longer work (a fatal librdkafka error), for `/health/live`; nil while it can.
    public var fatalProblem: String? { client.fatalError.map { "kafka: fatal error: \($0.message)" } }

    /// A producer; `preparing` names the topics whose partitions it loads as soon as it runs
    /// (see ``isPrepared``), and whose handles it makes at once (the others' on their first send).
    public init(settings: KafkaProducerSettings, preparing topics: [String] = [], logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        self.state = NIOLockedValueBox(State(unprepared: topics))
        self.client = try RDKafkaClient(
            kind: .producer, settings: settings.librdkafkaSettings,
            logger: logger, deliveryReports: true, topics: topics)
        pollThread.start()
    }

    /// Enqueues one message and returns its pending delivery; never blocks.
    /// Throws when the client is closed or its local queue is full.
    @discardableResult
    public func enqueue(topic: String, key: String, value: [UInt8]) throws(KafkaError) -> KafkaDelivery {
        try enqueue(topic: topic, key: Array(key.utf8), value: value, headers: [])
    }

    /// Enqueues one message with an optional key and headers; never blocks. `partition` nil
    /// leaves the partition to the partitioner (by key); `timestamp` nil means now.
    @discardableResult
    public func enqueue(
        topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader],
        timestamp: Int64? = nil
    ) throws(KafkaError) -> KafkaDelivery {
        let delivery = KafkaDelivery()
        let ticket = Unmanaged.passRetained(delivery).toOpaque()
        do {
            try produce(
                topic: topic, partition: partition, key: key, value: value, headers: headers, timestamp: timestamp,
                ticket: ticket)
        } catch {
            Unmanaged<KafkaDelivery>.fromOpaque(ticket).release()
            throw error
        }
        return delivery
    }

    /// Enqueues one message whose outcome nobody waits for (it is counted like every other:
    /// `kafka_messages_produced_total`, `kafka_delivery_errors_total`); never blocks. Cheaper
    /// than ``enqueue(topic:key:value:)`` by the pending delivery it does not make. Throws when
    /// the client is closed or its local queue is full.
    public func send(unacknowledged value: [UInt8], topic: String, key: String) throws(KafkaError) {
        try produce(
            topic: topic, partition: nil, key: Array(key.utf8), value: value, headers: [], timestamp: nil, ticket: nil)
    }

    /// Hands one message to librdkafka while the producer is open; `ticket` is its pending
    /// delivery, retained, or nil.
    private func produce(
        topic: String, partition: Int32?, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader], timestamp: Int64?,
        ticket: UnsafeMutableRawPointer?
    ) throws(KafkaError) {
        guard gate.enter() else { throw .closed("produce to \(topic)") }
        defer { gate.leave() }
        try client.produce(
            topic: topic, partition: partition, key: key, value: value, headers: headers, timestamp: timestamp,
            opaque: ticket)
    }

    /// Enqueues one message and waits until the broker acknowledged it.
    @discardableResult
    public func send(topic: String, key: String, value: [UInt8]) async throws -> KafkaDeliveryReport {
        try await enqueue(topic: topic, key: key, value: value).value()
    }

    /// Serves delivery reports until graceful shutdown (or cancellation), then flushes and closes.
    public func run() async throws {
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await pollThread.runToCompletion { [self] in pollUntilStopped() }
            } onGracefulShutdown: {
                self.requestStop()
            }
        } onCancel: {
            self.requestStop(abandoningFlush: true)
        }
        try await pollThread.shutdownGracefully()
    }

    private func requestStop(abandoningFlush: Bool = false) {
        state.withLockedValue {
            $0.stopRequested = true
            $0.flushAbandoned = $0.flushAbandoned || abandoningFlush
        }
    }

    /// Waits up to the flush timeout for what is queued to be acknowledged, in slices of 100 ms
    /// so that a cancellation (the service group's shutdown time is up) ends it at once: a
    /// broker that is gone would otherwise hold the process past the group's limit, which
    /// ServiceLifecycle ends with a crash.
    private func flushQueued() -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(settings.flushTimeoutMilliseconds)
        while ContinuousClock.now < deadline, !state.withLockedValue({ $0.flushAbandoned }) {
            if client.flush(timeoutMilliseconds: 100) { return true }
        }
        return false
    }

    /// The poll loop, on the dedicated thread: load the partitions of the topics to prepare
    /// (a try between polls until it works), serve delivery reports, then shut down in order.
    private func pollUntilStopped() {
        while !state.withLockedValue({ $0.stopRequested }) {
            if let topic = state.withLockedValue({ $0.unprepared.first }) {
                switch client.partitionLayout(of: topic, timeout: 500) {
                case .success(let layout) where !(layout[topic] ?? []).isEmpty:
                    state.withLockedValue { $0.unprepared.removeAll { $0 == topic } }
                case .success, .failure:
                    logger.debug(
                        "The partitions of a topic to send to are not known yet", metadata: ["kafka.topic": "\(topic)"])
                }
            }
            client.serveCallbacks(timeoutMilliseconds: 100)
        }
        gate.close()
        let pending = client.pendingMessages
        if pending > 0 { logger.info("Flushing Kafka producer", metadata: ["kafka.pending": "\(pending)"]) }
        if !flushQueued() {
            logger.warning(
                "Kafka producer flush timed out; failing unsent messages",
                metadata: ["kafka.pending": "\(client.pendingMessages)"])
            client.purgeQueuedAndInFlight()
        }
        client.serveCallbacks(timeoutMilliseconds: 0)
        client.destroy()
    }
}

/// Whether a producer's client still takes sends, passed by every send without a lock: a send
/// counts itself in before it looks, and ``close()`` marks the client closed before it waits for
/// the sends counted in to leave, so no send can reach a client that is being destroyed. (A
/// lock around each send made every event loop that publishes a visit wait for the others.)
final class SendGate: Sendable {
    private let closed = Atomic(false)
    private let sending = Atomic(0)

    /// Counts a send in; false, counting nothing, once the gate is closed.
    func enter() -> Bool {
        sending.add(1, ordering: .sequentiallyConsistent)
        guard !closed.load(ordering: .sequentiallyConsistent) else {
            sending.subtract(1, ordering: .sequentiallyConsistent)
            return false
        }
        return true
    }

    /// Counts a send out.
    func leave() { sending.subtract(1, ordering: .sequentiallyConsistent) }

    /// Refuses every later send and returns once none is in progress (a send takes microseconds).
    func close() {
        closed.store(true, ordering: .sequentiallyConsistent)
        while sending.load(ordering: .sequentiallyConsistent) > 0 { sched_yield() }
    }
}
