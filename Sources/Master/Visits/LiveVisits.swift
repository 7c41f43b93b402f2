import Logging
import Metrics
import NIOConcurrencyHelpers
import ServiceLifecycle
import SharedConfiguration
import SharedEvents
import SharedKafka

/// The new visits of links, for `GET /api/links/<code>/visits/live`: one tail of
/// `<ns>-visits` in the master, started with the first stream and stopped a while after the
/// last, fans each visit out to the streams of its link. A stream holds at most
/// ``bufferSize`` visits its client has not taken yet; one more and the stream is dropped (its
/// client disconnected), never buffered without a bound. At most ``maximumStreams`` run at once,
/// and at most ``maximumStreamsPerOwner`` of one API key: one key cannot hold them all.
final class LiveVisits: Service, Sendable {
    /// One open stream: its visits and heartbeats, until the client leaves or falls behind.
    struct Stream: Sendable {
        let id: Int
        let items: AsyncStream<Item>
    }

    /// What a stream carries.
    enum Item: Sendable {
        case visit(Entry)
        /// Nothing happened for ``LiveVisits/heartbeat``: a sign of life for the client.
        case heartbeat
    }

    /// One visit and where it is in the topic.
    struct Entry: Sendable {
        let partition: Int32
        let offset: Int64
        let event: VisitEvent
    }

    /// No stream can start: ``maximumStreams`` run already.
    struct Full: Error {}

    /// No stream of this owner can start: ``maximumStreamsPerOwner`` of its run already.
    struct OwnerFull: Error {}

    private struct Subscriber {
        let key: String
        /// The API key that opened it; nil without keys.
        let owner: String?
        let continuation: AsyncStream<Item>.Continuation
        /// Ends the client's connection.
        let drop: @Sendable () -> Void

        /// Hands `item` over; drops the stream when its buffer is full.
        func send(_ item: Item, id: Int, logger: Logger) {
            guard case .dropped = continuation.yield(item) else { return }
            LiveVisits.dropped.increment()
            logger.info("Dropped a live visits stream whose client fell behind", metadata: ["stream": "\(id)"])
            continuation.finish()
            drop()
        }
    }

    private enum Tail {
        case stopped
        case starting(Task<Void, any Error>)
        case running(KafkaTopicTail)
    }

    private struct State {
        var subscribers: [Int: Subscriber] = [:]
        var nextID = 0
        var tail = Tail.stopped
        /// When the last stream ended, while no other runs.
        var idleSince: ContinuousClock.Instant?
        var isShutDown = false
    }

    /// Most streams at once.
    let maximumStreams: Int
    /// Most streams of one API key at once.
    let maximumStreamsPerOwner: Int
    /// Visits a stream may hold for a slow client.
    let bufferSize: Int
    /// How long the tail runs on with no stream before it stops.
    static let idleLifetime = Duration.seconds(60)
    /// Time between heartbeats on every stream. A client that left without closing its
    /// connection (or whose close the server cannot see, as with a half-closed socket) is found
    /// by the next write: within this time its place is free again.
    static let heartbeat = Duration.seconds(5)

    private let state = NIOLockedValueBox(State())
    private let makeTail: @Sendable (@escaping @Sendable ([KafkaMessage]) -> Void) throws -> KafkaTopicTail
    private let logger: Logger

    /// `visit_streams`: streams open now.
    private static let open = Gauge(label: "visit_streams")
    /// `visit_streams_dropped_total`: streams ended because their client fell behind.
    fileprivate static let dropped = Counter(label: "visit_streams_dropped_total")

    /// - Parameter makeTail: a tail of the visits topic delivering to the given function.
    init(
        maximumStreams: Int, maximumStreamsPerOwner: Int, bufferSize: Int = 256, logger: Logger,
        makeTail: @escaping @Sendable (@escaping @Sendable ([KafkaMessage]) -> Void) throws -> KafkaTopicTail
    ) {
        self.maximumStreams = maximumStreams
        self.maximumStreamsPerOwner = maximumStreamsPerOwner
        self.bufferSize = bufferSize
        self.makeTail = makeTail
        self.logger = logger
        Self.open.record(0)
    }

    /// Live visits of `namespace`'s visits topic on `brokers`.
    static func following(
        _ namespace: Namespace, brokers: String, clientSettings: [String: String], maximumStreams: Int,
        maximumStreamsPerOwner: Int, logger: Logger
    ) -> LiveVisits {
        LiveVisits(maximumStreams: maximumStreams, maximumStreamsPerOwner: maximumStreamsPerOwner, logger: logger) {
            deliver in
            try KafkaTopicTail(
                bootstrapServers: brokers, groupID: "\(namespace.name)-visits-live", topic: namespace.visitsTopic,
                clientSettings: clientSettings, logger: logger, deliver: deliver)
        }
    }

    /// Opens a stream of the visits keyed `key` made from now on, for the API key `owner` (nil
    /// without keys); returns once the tail follows the topic. Throws ``Full`` past
    /// ``maximumStreams`` and ``OwnerFull`` past ``maximumStreamsPerOwner``. `drop` ends the
    /// client's connection when it falls behind: its writes may be waiting for a client that
    /// reads nothing.
    func subscribe(key: String, owner: String?, drop: @escaping @Sendable () -> Void) async throws -> Stream {
        let (stream, continuation) = AsyncStream<Item>.makeStream(bufferingPolicy: .bufferingOldest(bufferSize))
        let id: Int = try state.withLockedValue { state in
            guard !state.isShutDown, state.subscribers.count < maximumStreams else { throw Full() }
            if let owner, state.subscribers.values.count(where: { $0.owner == owner }) >= maximumStreamsPerOwner {
                throw OwnerFull()
            }
            let id = state.nextID
            state.nextID += 1
            state.subscribers[id] = Subscriber(key: key, owner: owner, continuation: continuation, drop: drop)
            state.idleSince = nil
            Self.open.record(state.subscribers.count)
            return id
        }
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(id) }
        do {
            try await tailRunning()
        } catch {
            continuation.finish()
            throw error
        }
        return Stream(id: id, items: stream)
    }

    /// Streams open now.
    var streamCount: Int { state.withLockedValue { $0.subscribers.count } }

    /// Ends a stream (its client left); ending one twice does nothing.
    func unsubscribe(_ id: Int) {
        let ended = state.withLockedValue { state -> Subscriber? in
            guard let ended = state.subscribers.removeValue(forKey: id) else { return nil }
            if state.subscribers.isEmpty { state.idleSince = .now }
            Self.open.record(state.subscribers.count)
            return ended
        }
        // Outside the lock: finishing calls the stream's termination handler, which comes here.
        ended?.continuation.finish()
    }

    /// Starts the tail unless it runs or is starting, and waits until it follows the topic.
    private func tailRunning() async throws {
        let starting: Task<Void, any Error>? = state.withLockedValue { current -> Task<Void, any Error>? in
            switch current.tail {
            case .running: return nil
            case .starting(let task): return task
            case .stopped:
                let task = Task { [self] in
                    let tail = try makeTail { [weak self] messages in self?.fanOut(messages) }
                    do {
                        try await tail.start()
                    } catch {
                        await tail.stop()
                        throw error
                    }
                    state.withLockedValue { $0.tail = .running(tail) }
                }
                current.tail = .starting(task)
                return task
            }
        }
        guard let starting else { return }
        do {
            try await starting.value
        } catch {
            state.withLockedValue { state in
                if case .starting = state.tail { state.tail = .stopped }
            }
            throw error
        }
    }

    /// Hands each visit to the streams of its key; drops a stream whose buffer is full.
    private func fanOut(_ messages: [KafkaMessage]) {
        let subscribers = state.withLockedValue { $0.subscribers }
        guard !subscribers.isEmpty else { return }
        var interested: [String: [(id: Int, subscriber: Subscriber)]] = [:]
        for (id, subscriber) in subscribers { interested[subscriber.key, default: []].append((id, subscriber)) }
        for message in messages {
            guard let key = message.key.map({ String(decoding: $0, as: UTF8.self) }),
                let streams = interested[key],
                let event = try? EventCodec.decodeVisitEvent(message.value)
            else { continue }
            let entry = Entry(partition: message.partition, offset: message.offset, event: event)
            for (id, subscriber) in streams { subscriber.send(.visit(entry), id: id, logger: logger) }
        }
    }

    /// Sends the heartbeats, stops the tail once it has had no stream for ``idleLifetime``, and
    /// everything at shutdown.
    func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            while true {
                try await Task.sleep(for: Self.heartbeat)
                for (id, subscriber) in state.withLockedValue({ $0.subscribers }) {
                    subscriber.send(.heartbeat, id: id, logger: logger)
                }
                let idleTail: KafkaTopicTail? = state.withLockedValue { state in
                    guard case .running(let tail) = state.tail, let idleSince = state.idleSince,
                        ContinuousClock.now - idleSince >= Self.idleLifetime
                    else { return nil }
                    state.tail = .stopped
                    return tail
                }
                await idleTail?.stop()
            }
        }
        let (tail, subscribers): (Tail, [Subscriber]) = state.withLockedValue { state in
            state.isShutDown = true
            defer { state.subscribers = [:] }
            return (state.tail, Array(state.subscribers.values))
        }
        for subscriber in subscribers { subscriber.continuation.finish() }
        if case .starting(let task) = tail { try? await task.value }
        if case .running(let tail) = state.withLockedValue({ $0.tail }) { await tail.stop() }
        Self.open.record(0)
    }
}
