import Foundation
import Logging
import NIOPosix

/// Reads one partition at chosen offsets, for lookups rather than a stream: the messages from
/// an offset, the partition's bounds, and the first offset at a time (a binary search over the
/// messages' timestamps, which works on every broker, the dev broker included, that keeps the
/// producer's create time). Every call runs on a thread of its own, one at a time, and is
/// bounded by a timeout. Never joins a group nor commits.
public final class KafkaPartitionReader: Sendable {
    /// The topic read.
    public let topic: String
    /// The partition read.
    public let partition: Int32
    private let client: RDKafkaClient
    private let thread = NIOThreadPool(numberOfThreads: 1)

    /// A reader of `partition` of `topic`. `groupID` only names the client to the broker.
    public init(
        bootstrapServers: String, groupID: String, topic: String, partition: Int32 = 0,
        clientSettings: [String: String] = [:], logger: Logger
    ) throws {
        self.topic = topic
        self.partition = partition
        self.client = try RDKafkaClient(
            kind: .consumer,
            settings: Self.readerSettings(
                bootstrapServers: bootstrapServers, groupID: groupID, clientSettings: clientSettings),
            logger: logger)
        thread.start()
    }

    /// The settings of a consumer that reads at offsets it chooses: `groupID` only names it to
    /// the broker, and it never commits.
    static func readerSettings(bootstrapServers: String, groupID: String, clientSettings: [String: String])
        -> [String: String]
    {
        var settings = clientSettings
        settings["bootstrap.servers"] = bootstrapServers
        settings["group.id"] = groupID
        settings["enable.auto.commit"] = "false"
        settings["enable.auto.offset.store"] = "false"
        return settings
    }

    /// Releases the thread and the client.
    public func shutdown() async {
        try? await thread.runToCompletion { [client] in client.destroy() }
        try? await thread.shutdownGracefully()
    }

    /// The first offset still stored and the offset the next message will get.
    public func bounds(timeout: Duration = .seconds(5)) async throws -> (low: Int64, high: Int64) {
        try await thread.runToCompletion { [self] in try bounds(within: timeout) }
    }

    /// The messages from `offset` on, at most `maximum` and none at or past `end` (a bound from
    /// ``bounds(timeout:)``); throws when they do not all arrive within `timeout`.
    public func read(from offset: Int64, before end: Int64, maximum: Int, timeout: Duration = .seconds(5))
        async throws -> [KafkaMessage]
    {
        try await thread.runToCompletion { [self] in
            try read(from: offset, before: end, maximum: maximum, deadline: .now + timeout)
        }
    }

    /// The first offset whose message was produced at or after `time` (milliseconds since
    /// 1970), or `high` when none was. Asks the broker's time index first (Kafka's
    /// offsets-for-times lookup, one request) and checks its answer with one read; a broker
    /// that cannot answer it (the dev broker answers the end) gets a binary search over the
    /// messages' timestamps instead, producers' clocks taken to grow with the offsets.
    public func firstOffset(atOrAfter time: Int64, timeout: Duration = .seconds(10)) async throws -> Int64 {
        try await thread.runToCompletion { [self] in
            let milliseconds = Int32(clamping: timeout.components.seconds * 1000)
            let deadline = ContinuousClock.now + timeout
            var (low, high) = try bounds(within: timeout)
            if case .success(let offset) = client.offset(
                atOrAfter: time, topic: topic, partition: partition, timeout: milliseconds),
                (low...high).contains(offset)
            {
                // The broker's answer holds if the message before it was made before `time`.
                guard offset > low else { return offset }
                let before = try read(from: offset - 1, before: offset, maximum: 1, deadline: deadline).first
                if let stamp = before?.timestamp, stamp < time { return offset }
            }
            while low < high {
                let middle = low + (high - low) / 2
                guard let message = try read(from: middle, before: high, maximum: 1, deadline: deadline).first else {
                    break
                }
                if (message.timestamp ?? .max) < time { low = message.offset + 1 } else { high = middle }
            }
            return low
        }
    }

    /// How many partitions the topic has now.
    public func partitionCount(timeout: Duration = .seconds(5)) async throws -> Int32 {
        try await thread.runToCompletion { [self] in
            let milliseconds = Int32(clamping: timeout.components.seconds * 1000)
            let layout = try client.partitionLayout(of: topic, timeout: milliseconds).get()
            guard let partitions = layout[topic], !partitions.isEmpty else {
                throw KafkaError(code: 3, message: "topic \(topic) does not exist")
            }
            return Int32(partitions.count)
        }
    }

    /// The partition Kafka's default partitioner (murmur2, as Java clients use it) gives `key`
    /// among `count`: where the messages of one key are.
    public static func partition(ofKey key: String, count: Int32) -> Int32 {
        RDKafkaClient.partition(ofKey: Array(key.utf8), count: count)
    }

    private func bounds(within timeout: Duration) throws -> (low: Int64, high: Int64) {
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000)
        return try client.watermarks(topic: topic, partition: partition, timeout: milliseconds).get()
    }

    private func read(from offset: Int64, before end: Int64, maximum: Int, deadline: ContinuousClock.Instant)
        throws -> [KafkaMessage]
    {
        guard offset < end, maximum > 0 else { return [] }
        try client.assign(topic: topic, startOffsets: [(partition, offset)])
        var messages: [KafkaMessage] = []
        var failure: KafkaError?
        while messages.count < maximum, messages.last.map({ $0.offset + 1 < end }) ?? true {
            guard ContinuousClock.now < deadline else {
                throw failure ?? KafkaError(code: -185, message: "reading \(topic)/\(partition) timed out")
            }
            let batch = client.poll(maximum: maximum - messages.count, timeoutMilliseconds: 100) { failure = $0 }
            messages += batch.filter { $0.offset >= offset && $0.offset < end }
        }
        return messages
    }
}
