import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import SharedEvents
import SharedKafka
import SharedResilience

/// The audit trail as `GET /api/audit` reads it: the one partition of `<ns>-audit`, read at
/// an offset (a page's cursor) or from the first event at a time (a binary search over the
/// messages' timestamps, a few fetches even for a year of changes). Reads run one at a time;
/// a few more may wait, and the next is refused (`429`) rather than queued without a bound.
/// Its Kafka client is made at the first read: most masters never read the trail.
final class AuditTrail: Service, Sendable {
    private let makeReader: @Sendable () throws -> KafkaPartitionReader
    private let reader = NIOLockedValueBox<KafkaPartitionReader?>(nil)
    private let logger: Logger
    private let reads = Bulkhead(limit: AuditTrail.maximumReads)

    /// Most reads running at once.
    static let maximumReads = 4

    init(logger: Logger, makeReader: @escaping @Sendable () throws -> KafkaPartitionReader) {
        self.makeReader = makeReader
        self.logger = logger
    }

    func run() async throws {
        try? await gracefulShutdown()
        let made = reader.withLockedValue { reader in
            defer { reader = nil }
            return reader
        }
        await made?.shutdown()
    }

    /// The reader, made on first use.
    private func currentReader() throws -> KafkaPartitionReader {
        try reader.withLockedValue { reader in
            if let reader { return reader }
            let made = try makeReader()
            reader = made
            return made
        }
    }

    /// One event and where it is.
    struct Entry: Sendable {
        let offset: Int64
        let event: AuditEvent
    }

    /// A page: the events in the order they were made, and the cursor of the next page (where
    /// the trail goes on, also when this page reached its end: new events come there).
    struct Page: Sendable {
        let entries: [Entry]
        let nextCursor: Int64
    }

    /// Up to `limit` events from `cursor` (an offset of an earlier page), or else from the first
    /// event made at or after `since`, or else from the oldest kept; only those made at or after
    /// `since` when given. An event that cannot be decoded is skipped and logged.
    /// Throws `Bulkhead.Full` while ``maximumReads`` reads run.
    func page(since: Date?, cursor: Int64?, limit: Int) async throws -> Page {
        try await reads.run { try await read(since: since, cursor: cursor, limit: limit) }
    }

    private func read(since: Date?, cursor: Int64?, limit: Int) async throws -> Page {
        let reader = try currentReader()
        let (low, high) = try await reader.bounds()
        var start: Int64
        if let cursor {
            start = cursor
        } else if let since {
            start = try await reader.firstOffset(atOrAfter: Int64(since.timeIntervalSince1970 * 1000))
        } else {
            start = low
        }
        start = min(max(start, low), high)
        let messages = try await reader.read(from: start, before: high, maximum: limit)
        var entries: [Entry] = []
        for message in messages {
            do {
                let event = try EventCodec.decodeAuditEvent(message.value)
                if let since, event.occurredAt < since { continue }
                entries.append(Entry(offset: message.offset, event: event))
            } catch {
                logger.warning(
                    "Skipped an audit message that is no audit event",
                    metadata: ["kafka.offset": "\(message.offset)", "error": "\(error.reason)"])
            }
        }
        return Page(entries: entries, nextCursor: messages.last.map { $0.offset + 1 } ?? start)
    }
}
