#if canImport(Glibc)
    import Glibc
#endif
import NIOConcurrencyHelpers
import NIOPosix
import ServiceLifecycle

/// Sends items nobody waits for through a ``KafkaProducer`` from a thread of its own.
///
/// A caller only appends its item to a list under a lock; every ``interval`` the sender's thread
/// takes what has gathered, turns each item into a message and enqueues it. The encoding and
/// librdkafka's copy of each message thus run beside the callers (a server's event loops)
/// instead of on them. The list is bounded: an item that finds it full, or arrives after the
/// sender stopped, is refused, and one the producer refuses (its own buffer full) is handed to
/// `refused`. Items keep their order: the order in which they were staged.
///
/// Run it as a `Service` listed after its producer, so that it stops first: on graceful
/// shutdown it refuses new items, sends what is staged and returns, and the producer then
/// flushes it.
public final class KafkaStagedSender<Item: Sendable>: Service, Sendable {
    /// How long the thread waits between two takes of the staged items.
    public let interval: Duration
    /// How long it waits after a take that found nothing: a quiet process's sender wakes 20
    /// times a second instead of 200, and the first item after a quiet spell waits at most this.
    public static var idleInterval: Duration { .milliseconds(50) }
    /// Most items staged and not yet taken; past it ``stage(_:)`` refuses.
    public let limit: Int
    private let producer: KafkaProducer
    private let topic: String
    private let message: @Sendable (Item) -> (key: String, value: [UInt8])
    private let refused: @Sendable (KafkaError) -> Void
    private let staged: NIOLockedValueBox<Staged>
    private let thread = NIOThreadPool(numberOfThreads: 1)

    private struct Staged {
        var items: [Item] = []
        var stopped = false
    }

    /// - Parameters:
    ///   - message: the key and value an item is sent as; runs on the sender's thread.
    ///   - refused: told of each message the producer refused; runs on the sender's thread.
    public init(
        producer: KafkaProducer, topic: String, limit: Int, interval: Duration = .milliseconds(5),
        message: @escaping @Sendable (Item) -> (key: String, value: [UInt8]),
        refused: @escaping @Sendable (KafkaError) -> Void
    ) {
        precondition(limit > 0, "a staged sender needs room for an item")
        self.producer = producer
        self.topic = topic
        self.limit = limit
        self.interval = interval
        self.message = message
        self.refused = refused
        self.staged = NIOLockedValueBox(Staged())
    }

    /// Stages one item for sending; never blocks. False, keeping nothing, when ``limit`` items
    /// are waiting or the sender has stopped.
    public func stage(_ item: Item) -> Bool {
        staged.withLockedValue { staged in
            guard !staged.stopped, staged.items.count < limit else { return false }
            staged.items.append(item)
            return true
        }
    }

    /// Sends what is staged every ``interval`` until graceful shutdown (or cancellation), then
    /// what is left.
    public func run() async throws {
        thread.start()
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await thread.runToCompletion { [self] in sendUntilStopped() }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
        try await thread.shutdownGracefully()
    }

    private func stop() { staged.withLockedValue { $0.stopped = true } }

    /// The loop on the sender's thread. The two lists trade places at each take, so neither
    /// allocates once it has grown to the usual batch.
    private func sendUntilStopped() {
        func microseconds(_ duration: Duration) -> useconds_t {
            let (seconds, attoseconds) = duration.components
            return useconds_t(seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
        }
        let (busy, idle) = (microseconds(interval), microseconds(Self.idleInterval))
        var batch: [Item] = []
        while true {
            let stopped = staged.withLockedValue { staged in
                swap(&staged.items, &batch)
                return staged.stopped
            }
            for item in batch {
                let (key, value) = message(item)
                do {
                    try producer.send(unacknowledged: value, topic: topic, key: key)
                } catch {
                    refused(error)
                }
            }
            if stopped { return }
            let pause = batch.isEmpty ? idle : busy
            batch.removeAll(keepingCapacity: true)
            usleep(pause)
        }
    }
}
