import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import SharedEvents
import SharedKafka
import SharedResilience

/// The visits as `GET /api/links/<code>/visits` and `GET /api/visits/orphans` read them from
/// `<ns>-visits`, newest first: one key's visits are on the partition Kafka's default
/// partitioner gives the key, so a page reads that partition alone, backwards from its end
/// (or from the first offset at `to`, found by the broker's offsets-for-times lookup) down to
/// the first offset at `from`. Reads run a few at a time; the next is refused (`429`) rather
/// than queued without a bound. Its Kafka clients are made at the first read.
final class VisitLog: Service, Sendable {
    private let makeReader: @Sendable (Int32) throws -> KafkaPartitionReader
    private let readers = NIOLockedValueBox<[Int32: KafkaPartitionReader]>([:])
    private let partitionCount = NIOLockedValueBox<(count: Int32, read: ContinuousClock.Instant)?>(nil)
    private let reads = Bulkhead(limit: VisitLog.maximumReads)
    private let logger: Logger

    /// Most reads running at once.
    static let maximumReads = 4
    /// Most messages one page reads before it answers with what it found and a cursor to go on:
    /// a link among many busier ones costs each page a bounded time.
    static let maximumScannedPerPage = 50_000
    /// Messages read per step backwards.
    static let stepSize = 1000
    /// How far the replicas' clocks may differ: a partition holds the visits of every replica,
    /// so its times grow with its offsets only roughly. The offsets of `from` and `to` are
    /// looked up this much wider, and each visit is then checked by its own time.
    static let clockSkew = Duration.seconds(5)

    /// Milliseconds since 1970 of `time` moved by `moved`, as Kafka's timestamps count.
    static func milliseconds(_ time: Date, moved: Duration = .zero) -> Int64 {
        Int64((time.timeIntervalSince1970 * 1000).rounded(.down)) + moved.components.seconds * 1000
    }

    /// How long the topic's partition count is trusted before it is asked again.
    static let partitionCountLifetime = Duration.seconds(60)

    /// - Parameter makeReader: a reader of one partition of the visits topic.
    init(logger: Logger, makeReader: @escaping @Sendable (Int32) throws -> KafkaPartitionReader) {
        self.makeReader = makeReader
        self.logger = logger
    }

    func run() async throws {
        try? await gracefulShutdown()
        let made = readers.withLockedValue { readers in
            defer { readers = [:] }
            return Array(readers.values)
        }
        for reader in made { await reader.shutdown() }
    }

    /// One visit and where it is.
    struct Entry: Sendable {
        let partition: Int32
        let offset: Int64
        let event: VisitEvent
    }

    /// Where a page left off: the partition and the offset below which the next page reads.
    struct Cursor: Equatable, Sendable, CustomStringConvertible {
        let partition: Int32
        let offset: Int64

        var description: String { "\(partition).\(offset)" }

        /// The cursor `text` names, or nil when it is none this API wrote.
        init?(_ text: String) {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard text.utf8.count <= 32, parts.count == 2, let partition = Int32(parts[0]), partition >= 0,
                let offset = Int64(parts[1]), offset >= 0
            else { return nil }
            self.init(partition: partition, offset: offset)
        }

        init(partition: Int32, offset: Int64) {
            self.partition = partition
            self.offset = offset
        }
    }

    /// A page: the visits found, newest first, and where to go on (nil: the range is exhausted).
    struct Page: Sendable {
        let entries: [Entry]
        let nextCursor: Cursor?
    }

    /// The cursor names another partition than the key's: the topic's partitions changed.
    struct StaleCursor: Error {}

    /// Up to `limit` visits keyed `key`, newest first, made at or after `from` and before `to`,
    /// below `cursor` when given (a cursor of an earlier page of the same key).
    /// Throws `Bulkhead.Full` while ``maximumReads`` reads run.
    func page(key: String, from: Date?, to: Date?, cursor: Cursor?, limit: Int) async throws -> Page {
        try await reads.run { try await read(key: key, from: from, to: to, cursor: cursor, limit: limit) }
    }

    private func read(key: String, from: Date?, to: Date?, cursor: Cursor?, limit: Int) async throws -> Page {
        let partition = KafkaPartitionReader.partition(ofKey: key, count: try await currentPartitionCount())
        if let cursor, cursor.partition != partition { throw StaleCursor() }
        let reader = try reader(of: partition)
        let (low, high) = try await reader.bounds()
        func offset(at time: Date?, moved: Duration) async throws -> Int64? {
            guard let time else { return nil }
            return try await reader.firstOffset(atOrAfter: VisitLog.milliseconds(time, moved: moved))
        }
        let lower = max(low, try await offset(at: from, moved: .zero - Self.clockSkew) ?? low)
        let end = if let cursor { cursor.offset } else { try await offset(at: to, moved: Self.clockSkew) ?? high }
        var upper = min(high, end)
        let wanted = Array(key.utf8)
        var entries: [Entry] = []
        var scanned = 0
        while upper > lower, scanned < Self.maximumScannedPerPage {
            let start = max(lower, upper - Int64(Self.stepSize))
            let messages = try await reader.read(from: start, before: upper, maximum: Int(upper - start))
            scanned += messages.count
            for message in messages.reversed() where message.key == wanted {
                guard let event = Self.visit(in: message, logger: logger) else { continue }
                if let from, event.occurredAt < from { continue }
                if let to, event.occurredAt >= to { continue }
                entries.append(Entry(partition: partition, offset: message.offset, event: event))
                if entries.count == limit {
                    return Page(entries: entries, nextCursor: Cursor(partition: partition, offset: message.offset))
                }
            }
            upper = start
        }
        return Page(entries: entries, nextCursor: upper > lower ? Cursor(partition: partition, offset: upper) : nil)
    }

    /// The visit a message holds; nil, logged, when it holds none.
    static func visit(in message: KafkaMessage, logger: Logger) -> VisitEvent? {
        do {
            return try EventCodec.decodeVisitEvent(message.value)
        } catch {
            logger.warning(
                "Skipped a visits message that is no visit",
                metadata: [
                    "kafka.partition": "\(message.partition)", "kafka.offset": "\(message.offset)",
                    "error": "\(error.reason)",
                ])
            return nil
        }
    }

    /// The visits topic's partition count, asked at most once per ``partitionCountLifetime``.
    private func currentPartitionCount() async throws -> Int32 {
        let now = ContinuousClock.now
        if let known = partitionCount.withLockedValue({ $0 }), now - known.read < Self.partitionCountLifetime {
            return known.count
        }
        let count = try await reader(of: 0).partitionCount()
        partitionCount.withLockedValue { $0 = (count, now) }
        return count
    }

    /// The reader of one partition, made on first use.
    private func reader(of partition: Int32) throws -> KafkaPartitionReader {
        try readers.withLockedValue { readers in
            if let reader = readers[partition] { return reader }
            let made = try makeReader(partition)
            readers[partition] = made
            return made
        }
    }
}
