import Logging
import NIOCore
import PostgresNIO
import SharedConfiguration
import SharedEvents

/// One row of the transactional outbox: an event for one of the project's topics, keyed by
/// its short code, as the relay will publish it.
public struct OutboxRow: Sendable {
    public let topic: TopicName
    public let key: String
    public let payload: ByteBuffer

    /// Every topic a row may be for: the relay learns their partitions before it says ready.
    public static let topics: [TopicName] = [.links, .audit, .milestones]

    /// A link event for `<ns>-links`.
    public init(_ event: LinkEvent) {
        topic = .links
        key = event.address.key
        payload = ByteBuffer(bytes: EventCodec.encode(event))
    }

    /// A domain's event for `<ns>-links`, beside the links.
    public init(_ event: DomainEvent) {
        topic = .links
        key = DomainEvent.messageKey(event.domain)
        payload = ByteBuffer(bytes: EventCodec.encode(event))
    }

    /// An audit event for `<ns>-audit`, keyed by its subject.
    public init(_ event: AuditEvent) {
        topic = .audit
        key = event.subject
        payload = ByteBuffer(bytes: EventCodec.encode(event))
    }

    /// A milestone for `<ns>-milestones`.
    public init(_ event: LinkMilestoneEvent) {
        topic = .milestones
        key = event.address.key
        payload = ByteBuffer(bytes: EventCodec.encode(event))
    }
}

/// The one writer of the outbox table: every event leaves the master through it, inside the
/// transaction (or the single statement) that makes the change the event announces, so an
/// event exists exactly when its change is committed. Callers never write the table by hand.
public enum OutboxWriter {
    /// Appends `rows`, in order, with one statement on `connection`, inside the caller's
    /// transaction.
    public static func append(_ rows: [OutboxRow], on connection: PostgresConnection, logger: Logger) async throws {
        guard !rows.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO outbox (topic, message_key, payload)
            SELECT * FROM unnest(\(rows.map(\.topic.rawValue))::text[], \(rows.map(\.key))::text[], \(rows.map(\.payload))::bytea[])
            """, logger: logger)
    }
}

extension PostgresQuery.StringInterpolation {
    /// `INSERT INTO outbox … VALUES (…)` for `row`, as the last part of a change made in one
    /// statement (a create's `WITH … INSERT`): one round trip, and the outbox's shape still
    /// lives in ``OutboxWriter``'s file alone.
    public mutating func appendInterpolation(outboxInsert row: OutboxRow) {
        appendLiteral("INSERT INTO outbox (topic, message_key, payload) VALUES (")
        appendInterpolation(row.topic.rawValue)
        appendLiteral(", ")
        appendInterpolation(row.key)
        appendLiteral(", ")
        appendInterpolation(row.payload)
        appendLiteral(")")
    }

    /// `INSERT INTO outbox … SELECT …` for `rows`, in their order, keeping only the rows whose
    /// key the statement's common table expression `keys` (say `inserted`, a `RETURNING link_key`)
    /// returned, and of those only the first row of each key: a batch of changes and their events
    /// in one statement. (Two rows of one key are two items asking for the same code; the insert
    /// gave it to the first, so only the first one's event may go out.)
    public mutating func appendInterpolation(outboxInsert rows: [OutboxRow], keysIn keys: StaticString) {
        appendLiteral("INSERT INTO outbox (topic, message_key, payload) SELECT topic, key, payload FROM (")
        appendLiteral("SELECT DISTINCT ON (o.key) o.topic, o.key, o.payload, o.n FROM unnest(")
        appendInterpolation(rows.map(\.topic.rawValue))
        appendLiteral("::text[], ")
        appendInterpolation(rows.map(\.key))
        appendLiteral("::text[], ")
        appendInterpolation(rows.map(\.payload))
        appendLiteral("::bytea[]) WITH ORDINALITY AS o(topic, key, payload, n) WHERE o.key IN (SELECT link_key FROM ")
        appendLiteral("\(keys)")
        appendLiteral(") ORDER BY o.key, o.n) AS first ORDER BY n")
    }
}
