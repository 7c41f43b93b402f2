import Foundation
import Logging
import SharedEvents
import SharedKafka

/// Reads the visits made in a time range from partitions of `<ns>-visits`, oldest first: each
/// partition from the first offset at `from` to the first at `to` (the broker's
/// offsets-for-times lookup, widened by ``VisitLog/clockSkew``), a step at a time, the partitions merged by time, so memory stays
/// flat however many visits the range holds.
struct VisitExport {
    /// The partitions to read.
    let readers: [KafkaPartitionReader]
    /// Made at or after it.
    let from: Date?
    /// Made before it.
    let to: Date?
    /// Only the visits with this key (a link's, or ``VisitEvent/orphanKey``); every visit when nil.
    let key: String?
    let logger: Logger

    /// Messages read per partition and step.
    static let stepSize = 2000

    /// One partition's range and what has been read of it but not yet handed on.
    private struct Cursor {
        let reader: KafkaPartitionReader
        var next: Int64
        let end: Int64
        var pending: [(timestamp: Int64, event: VisitEvent)] = []
        var pendingIndex = 0

        var head: (timestamp: Int64, event: VisitEvent)? {
            pendingIndex < pending.count ? pending[pendingIndex] : nil
        }
    }

    /// How many messages the range holds over every partition read.
    private(set) var total: Int64 = 0
    private var cursors: [Cursor] = []

    init(readers: [KafkaPartitionReader], from: Date?, to: Date?, key: String?, logger: Logger) {
        self.readers = readers
        self.from = from
        self.to = to
        self.key = key
        self.logger = logger
    }

    /// Finds each partition's range; ``total`` is known afterwards.
    mutating func prepare() async throws {
        cursors = []
        total = 0
        for reader in readers {
            let (low, high) = try await reader.bounds()
            func offset(at time: Date?, moved: Duration) async throws -> Int64? {
                guard let time else { return nil }
                return try await reader.firstOffset(atOrAfter: VisitLog.milliseconds(time, moved: moved))
            }
            let start = try await offset(at: from, moved: .zero - VisitLog.clockSkew) ?? low
            let end = try await offset(at: to, moved: VisitLog.clockSkew) ?? high
            let range = (max(low, start), min(high, end))
            total += max(0, range.1 - range.0)
            cursors.append(Cursor(reader: reader, next: range.0, end: range.1))
        }
    }

    /// Hands every visit of the range to `visit`, oldest first; `progress` learns how many
    /// messages have been read.
    mutating func run(visit: (VisitEvent) throws -> Void, progress: (Int64) -> Void) async throws {
        var read: Int64 = 0
        let wanted = key.map { Array($0.utf8) }
        while true {
            for index in cursors.indices where cursors[index].head == nil && cursors[index].next < cursors[index].end {
                let cursor = cursors[index]
                let messages = try await cursor.reader.read(
                    from: cursor.next, before: cursor.end,
                    maximum: Int(min(Int64(Self.stepSize), cursor.end - cursor.next)))
                read += Int64(messages.count)
                progress(read)
                var pending: [(Int64, VisitEvent)] = []
                for message in messages where wanted == nil || message.key == wanted {
                    guard let event = VisitLog.visit(in: message, logger: logger) else { continue }
                    if let from, event.occurredAt < from { continue }
                    if let to, event.occurredAt >= to { continue }
                    pending.append((VisitLog.milliseconds(event.occurredAt), event))
                }
                cursors[index].next = messages.last.map { $0.offset + 1 } ?? cursor.end
                cursors[index].pending = pending
                cursors[index].pendingIndex = 0
            }
            // The oldest head among the partitions; a partition whose step held none of the
            // wanted visits reads its next step first.
            if cursors.contains(where: { $0.head == nil && $0.next < $0.end }) { continue }
            var oldest: (index: Int, timestamp: Int64, event: VisitEvent)?
            for index in cursors.indices {
                if let head = cursors[index].head, oldest.map({ head.timestamp < $0.timestamp }) ?? true {
                    oldest = (index, head.timestamp, head.event)
                }
            }
            guard let oldest else { return }
            try visit(oldest.event)
            cursors[oldest.index].pendingIndex += 1
        }
    }
}
