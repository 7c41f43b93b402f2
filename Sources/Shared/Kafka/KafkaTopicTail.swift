import Logging
import NIOConcurrencyHelpers
import NIOPosix

/// Follows every partition of one topic from where each ends when it starts: the messages
/// produced from then on, handed to `deliver` in batches on a thread of its own. Never joins a
/// group nor commits; for live views, not for work that must see every message.
public final class KafkaTopicTail: Sendable {
    /// The topic followed.
    public let topic: String
    private let client: RDKafkaClient
    private let thread = NIOThreadPool(numberOfThreads: 1)
    private let deliver: @Sendable ([KafkaMessage]) -> Void
    private let logger: Logger
    private let stopping = NIOLockedValueBox(false)
    private let polling = NIOLockedValueBox<Task<Void, Never>?>(nil)

    /// A tail of `topic`; `groupID` only names the client to the broker. Call ``start()``.
    public init(
        bootstrapServers: String, groupID: String, topic: String, clientSettings: [String: String] = [:],
        logger: Logger, deliver: @escaping @Sendable ([KafkaMessage]) -> Void
    ) throws {
        self.topic = topic
        self.deliver = deliver
        self.logger = logger
        self.client = try RDKafkaClient(
            kind: .consumer,
            settings: KafkaPartitionReader.readerSettings(
                bootstrapServers: bootstrapServers, groupID: groupID, clientSettings: clientSettings),
            logger: logger)
        thread.start()
    }

    /// Positions the tail at the current end of every partition, then follows them until
    /// ``stop()``. Returns once positioned: every message produced after it returns is delivered.
    public func start(timeout: Duration = .seconds(10)) async throws {
        try await thread.runToCompletion { [self] in
            let milliseconds = Int32(clamping: timeout.components.seconds * 1000)
            let layout = try client.partitionLayout(of: topic, timeout: milliseconds).get()
            guard let partitions = layout[topic], !partitions.isEmpty else {
                throw KafkaError(code: 3, message: "topic \(topic) does not exist")
            }
            var starts: [(partition: Int32, offset: Int64)] = []
            for partition in partitions {
                let (_, high) = try client.watermarks(
                    topic: topic, partition: partition.partition, timeout: milliseconds
                ).get()
                starts.append((partition.partition, high))
            }
            try client.assign(topic: topic, startOffsets: starts)
        }
        let task = Task<Void, Never> { [self] in
            _ = try? await thread.runToCompletion { [self] in
                while !stopping.withLockedValue({ $0 }) {
                    let batch = client.poll(maximum: 500, timeoutMilliseconds: 100) { error in
                        logger.debug("Following a topic failed for now", metadata: ["error": "\(error.message)"])
                    }
                    if !batch.isEmpty { deliver(batch) }
                }
            }
        }
        polling.withLockedValue { $0 = task }
    }

    /// Stops following and releases the thread and the client.
    public func stop() async {
        stopping.withLockedValue { $0 = true }
        await polling.withLockedValue({ $0 })?.value
        try? await thread.runToCompletion { [client] in client.destroy() }
        try? await thread.shutdownGracefully()
    }
}
