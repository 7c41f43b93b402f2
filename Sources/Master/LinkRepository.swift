import Foundation
import Logging
import NIOCore
import PostgresNIO
import SharedEvents
import SharedLinks
import SharedPostgres
import SharedResilience
import SharedService

/// Links in Postgres. Every change is written together with its outbox row in one transaction,
/// so an event reaches Kafka exactly when (and only when) the change is committed. Every call
/// goes through the Postgres circuit breaker.
struct LinkRepository: Sendable {
    let client: PostgresClient
    let breaker: CircuitBreaker
    let logger: Logger

    /// How many generated codes are tried before giving up (a collision is already rare).
    static let maximumAttempts = 5

    /// A create's `Idempotency-Key`: unique within `scope` (the API key's id, or empty).
    struct IdempotencyKey: Sendable {
        let scope: String
        let key: String
        /// SHA-256 of the request body: a retry must send the same request.
        let requestHash: [UInt8]
    }

    /// What a create did.
    struct Creation: Sendable, Equatable {
        let code: String
        /// True when an earlier create with the same `Idempotency-Key` made the link.
        let replayed: Bool
    }

    /// Creates the link and its `link.created` outbox row (and remembers `idempotency`).
    /// Throws ``APIError`` 409 when a custom alias is taken, 422 when the idempotency key was
    /// used for a different request.
    func create(_ link: NewLink, idempotency: IdempotencyKey? = nil) async throws -> Creation {
        if let idempotency, let earlier = try await earlierCreation(idempotency) { return earlier }
        for _ in 1...Self.maximumAttempts {
            let code = link.alias ?? ShortCode.random()
            let event = LinkEvent.created(
                code: code, url: link.url, expiresAt: link.expiresAt, maxClicks: link.maxClicks, tags: link.tags)
            do {
                // One statement: one round trip and one implicit transaction, every row or none.
                // bench/create.pgbench runs the same statement.
                let statement: PostgresQuery = """
                    WITH link AS (
                        INSERT INTO links (code, url, expires_at, max_clicks, tags, created_at)
                        VALUES (\(code), \(link.url), \(link.expiresAt), \(link.maxClicks), \(link.tags), \(event.occurredAt))
                    ), remembered AS (
                        INSERT INTO idempotency_keys (scope, key, request_hash, code)
                        SELECT \(idempotency?.scope)::text, \(idempotency?.key)::text, \(idempotency.map { ByteBuffer(bytes: $0.requestHash) })::bytea, \(code)
                        WHERE \(idempotency?.key)::text IS NOT NULL
                    )
                    \(outboxInsert: OutboxRow(event))
                    """
                try await breaker.run { [client, logger] in
                    try await client.query(statement, logger: logger)
                }
                return Creation(code: code, replayed: false)
            } catch  where error.isUniqueViolation {
                if let idempotency, error.postgresConstraint == "idempotency_keys_pkey",
                    let earlier = try await earlierCreation(idempotency)
                {
                    return earlier  // a concurrent retry with the same key won the race
                }
                if link.alias != nil {
                    throw APIError.aliasTaken(code)
                }
                logger.debug("Generated code collided; trying another", metadata: ["link.code": "\(code)"])
            }
        }
        throw APIError.noFreeCode
    }

    /// The link an earlier create with this key made, if any.
    private func earlierCreation(_ idempotency: IdempotencyKey) async throws -> Creation? {
        try await breaker.run { [client, logger] in
            let rows = try await client.query(
                """
                SELECT request_hash, code FROM idempotency_keys
                WHERE scope = \(idempotency.scope) AND key = \(idempotency.key)
                """, logger: logger)
            for try await (hash, code) in rows.decode((ByteBuffer, String).self) {
                guard Array(buffer: hash) == idempotency.requestHash else {
                    throw APIError.idempotencyKeyReused
                }
                return Creation(code: code, replayed: true)
            }
            return nil
        }
    }

    /// What deleting a code did.
    enum Deletion: Equatable {
        case deleted
        case alreadyDeleted
        case notFound
    }

    /// Marks the link deleted (it keeps its row, so the code is never issued again) and queues
    /// its `link.deleted` event.
    func delete(_ code: String) async throws -> Deletion {
        try await breaker.run { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    UPDATE links SET deleted_at = now(), revision = revision + 1
                    WHERE code = \(code) AND deleted_at IS NULL RETURNING revision
                    """, logger: logger)
                var revision: Int64?
                for try await value in rows.decode(Int64.self) { revision = value }
                guard let revision else {
                    let existing = try await connection.query(
                        "SELECT 1 FROM links WHERE code = \(code)", logger: logger)
                    for try await _ in existing.decode(Int.self) { return Deletion.alreadyDeleted }
                    return Deletion.notFound
                }
                try await OutboxWriter.append(
                    [OutboxRow(LinkEvent.deleted(code: code, revision: revision))], on: connection, logger: logger)
                return Deletion.deleted
            }
        }
    }

    /// What an edit did.
    enum Edit: Equatable {
        /// The link as it is now.
        case edited(LinksAPIController.LinkDetails)
        case notFound
        case deleted
        /// `If-Match` named another revision: the link moved on since the caller read it.
        case revisionMismatch(current: Int64)
    }

    /// Applies `edit` to a live link, raising its revision by one, and queues its `link.updated`
    /// event, in one transaction. With `expectedRevision`, only when the link is still at that
    /// revision. A new visit limit at or below the clicks already counted leaves the link used up;
    /// a higher one (or none) makes a used-up link live again.
    func update(_ code: String, with edit: ValidatedLinkEdit, expectedRevision: Int64? = nil) async throws -> Edit {
        let setsExpiry = edit.expiresAt != .keep
        let expiry: Date? = if case .set(let date) = edit.expiresAt { date } else { nil }
        let setsLimit = edit.maxClicks != .keep
        let limit: Int64? = if case .set(let value) = edit.maxClicks { value } else { nil }
        return try await breaker.run { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                // The row lock taken here orders this edit with deletes, other edits and the
                // click aggregator, so the outbox holds this code's events in revision order.
                let rows = try await connection.query(
                    """
                    UPDATE links SET
                        url = coalesce(\(edit.url), url),
                        expires_at = CASE WHEN \(setsExpiry) THEN \(expiry) ELSE expires_at END,
                        max_clicks = CASE WHEN \(setsLimit) THEN \(limit) ELSE max_clicks END,
                        tags = coalesce(\(edit.tags), tags),
                        exhausted_at = CASE
                            WHEN NOT \(setsLimit) THEN exhausted_at
                            WHEN \(limit)::bigint IS NOT NULL AND \(limit)::bigint <= COALESCE(
                                (SELECT sum(c.total) FROM click_counts c WHERE c.code = links.code), 0)
                            THEN coalesce(exhausted_at, now())
                            END,
                        revision = revision + 1
                    WHERE code = \(code) AND deleted_at IS NULL
                        AND (\(expectedRevision)::bigint IS NULL OR revision = \(expectedRevision)::bigint)
                    RETURNING revision, url, expires_at, max_clicks, tags, exhausted_at IS NOT NULL
                    """, logger: logger)
                var updated: LinkEvent?
                for try await (revision, url, expiresAt, maxClicks, tags, exhausted) in rows.decode(
                    (Int64, String, Date?, Int64?, [String], Bool).self)
                {
                    updated = LinkEvent.updated(
                        code: code, revision: revision, url: url, expiresAt: expiresAt, maxClicks: maxClicks,
                        tags: tags, exhausted: exhausted)
                }
                guard let updated else {
                    let existing = try await connection.query(
                        "SELECT deleted_at IS NOT NULL, revision FROM links WHERE code = \(code)", logger: logger)
                    for try await (deleted, revision) in existing.decode((Bool, Int64).self) {
                        return deleted ? Edit.deleted : Edit.revisionMismatch(current: revision)
                    }
                    return Edit.notFound
                }
                try await OutboxWriter.append([OutboxRow(updated)], on: connection, logger: logger)
                let current = try await connection.query(
                    "SELECT \(unescaped: Self.detailColumns) FROM links l WHERE l.code = \(code)", logger: logger)
                for try await row in current.decode(DetailRow.self) {
                    return Edit.edited(Self.details(row, now: Date()))
                }
                return Edit.notFound
            }
        }
    }

    /// The columns every read returns, with the click total (the sum of the replicas'
    /// highest totals).
    private static let detailColumns = """
        l.code, l.url, l.created_at, l.expires_at, l.max_clicks, l.tags, l.revision, l.deleted_at IS NOT NULL,
        l.exhausted_at IS NOT NULL,
        COALESCE((SELECT sum(c.total) FROM click_counts c WHERE c.code = l.code), 0)::bigint
        """

    private typealias DetailRow = (String, String, Date, Date?, Int64?, [String], Int64, Bool, Bool, Int64)

    private static func details(_ row: DetailRow, now: Date) -> LinksAPIController.LinkDetails {
        let (code, url, createdAt, expiresAt, maxClicks, tags, revision, deleted, exhausted, clicks) = row
        let status: LinksAPIController.LinkDetails.Status =
            deleted
            ? .deleted
            : exhausted || maxClicks.map { clicks >= $0 } == true
                ? .exhausted : expiresAt.map { $0 <= now } == true ? .expired : .active
        return .init(
            code: code, url: url, createdAt: createdAt, expiresAt: expiresAt, maxClicks: maxClicks, tags: tags,
            revision: revision, clicks: clicks, status: status)
    }

    /// The link with its click total, or `nil`.
    func details(of code: String) async throws -> LinksAPIController.LinkDetails? {
        try await breaker.run { [client, logger] in
            let rows = try await client.query(
                "SELECT \(unescaped: Self.detailColumns) FROM links l WHERE l.code = \(code)", logger: logger)
            for try await row in rows.decode(DetailRow.self) { return Self.details(row, now: Date()) }
            return nil
        }
    }

    /// When the link was created, or `nil` if there is no such link (deleted ones included): the
    /// one indexed lookup that the QR code and the stats need, without the click total's sum.
    func creationTime(of code: String) async throws -> Date? {
        try await breaker.run { [client, logger] in
            let rows = try await client.query("SELECT created_at FROM links WHERE code = \(code)", logger: logger)
            for try await createdAt in rows.decode(Date.self) { return createdAt }
            return nil
        }
    }

    /// Every link (only those tagged `tag`, when given), oldest first, as a stream that Postgres
    /// sends while `body` takes it: `master links export` of a million links in flat memory.
    /// Straight on the client, not through the breaker: one long read that a call timeout would
    /// cut, made by a command that stops on the first error anyway.
    func forEachLink(tagged tag: String?, _ body: (LinksAPIController.LinkDetails) throws -> Void) async throws {
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.detailColumns) FROM links l
            WHERE \(tag)::text IS NULL OR l.tags @> ARRAY[\(tag)::text]
            ORDER BY l.created_at, l.code
            """, logger: logger)
        let now = Date()
        for try await row in rows.decode(DetailRow.self) { try body(Self.details(row, now: now)) }
    }

    /// Up to `limit` links, newest first, starting after `cursor` (the last link of the previous
    /// page), only those tagged `tag` when one is given.
    /// Longest a listing or search may run in Postgres: 1 s, half the breaker's call timeout.
    /// One that takes longer answers `400 search_too_slow`, never counted as an outage.
    static let listTimeoutMilliseconds = 1000

    func list(limit: Int, after cursor: LinkCursor?, tag: String? = nil, containing search: String? = nil)
        async throws -> [LinksAPIController.LinkDetails]
    {
        // A LIKE pattern that matches the search text literally, anywhere, in any case.
        let pattern = search.map { text in
            "%"
                + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_") + "%"
        }
        return try await breaker.run { [client, logger] in
            // A search's cost is the caller's to choose (trigram indexes keep ordinary ones to
            // milliseconds): bounded by its own statement timeout, below the breaker's.
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query(
                    "SET LOCAL statement_timeout = \(unescaped: String(Self.listTimeoutMilliseconds))", logger: logger)
                // The keyset starts above every link without a cursor; the tag and search tests are
                // true without a tag or a search.
                let after = cursor ?? LinkCursor(createdAt: LinkLimits.latestExpiry, code: "")
                let rows = try await connection.query(
                    """
                    SELECT \(unescaped: Self.detailColumns) FROM links l
                    WHERE (l.created_at, l.code) < (\(after.createdAt), \(after.code))
                        AND (\(tag)::text IS NULL OR l.tags @> ARRAY[\(tag)::text])
                        AND (\(pattern)::text IS NULL OR l.code ILIKE \(pattern)::text OR l.url ILIKE \(pattern)::text)
                    ORDER BY l.created_at DESC, l.code DESC LIMIT \(limit)
                    """, logger: logger)
                let now = Date()
                var links: [LinksAPIController.LinkDetails] = []
                for try await row in rows.decode(DetailRow.self) { links.append(Self.details(row, now: now)) }
                return links
            }
        }
    }
}

/// Where a page of `GET /api/links` ends: the last link's creation time and code, sent to the
/// client as an opaque base64url token.
struct LinkCursor: Sendable, Equatable {
    let createdAt: Date
    let code: String

    /// The token: base64url of `<microseconds since 1970>:<code>`.
    var token: String {
        let micros = Int64((createdAt.timeIntervalSince1970 * 1_000_000).rounded())
        return Data("\(micros):\(code)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    init(createdAt: Date, code: String) {
        self.createdAt = createdAt
        self.code = code
    }

    /// The times a token may carry, in microseconds since 1970: 1970 up to the year 10000.
    /// Postgres (and PostgresNIO's encoder) accept a wider range, but no link was made
    /// outside this one, and a value far outside it would trap in the conversion.
    static let microsecondRange: ClosedRange<Int64> = 0...253_402_300_800_000_000

    /// Reads a token; nil when it is not one this API made.
    init?(token: String) {
        guard token.utf8.count <= 128 else { return nil }
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8),
            let colon = text.firstIndex(of: ":"), let micros = Int64(text[..<colon]),
            Self.microsecondRange.contains(micros)
        else { return nil }
        let code = String(text[text.index(after: colon)...])
        guard ShortCode.isWellFormed(code) else { return nil }
        self.init(createdAt: Date(timeIntervalSince1970: Double(micros) / 1_000_000), code: code)
    }
}
