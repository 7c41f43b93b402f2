import Foundation
import Logging
import NIOCore
import PostgresNIO
import SharedEvents
import SharedLinks
import SharedPostgres
import SharedResilience
import SharedService

/// Links in Postgres. Every change is written together with its outbox row in one transaction
/// (or one statement), so an event reaches Kafka exactly when (and only when) the change is
/// committed. Every call goes through the Postgres circuit breaker. Every create, alone, grouped,
/// in bulk or imported, runs ``CreateStatement``.
struct PostgresLinkRepository: LinkRepository {
    let client: PostgresClient
    let breaker: CircuitBreaker
    let logger: Logger

    /// Creates the link and its `link.created` outbox row (and remembers `idempotency`) with one
    /// ``CreateStatement`` on a pooled connection. The master's own creates go through
    /// ``CreateGroupCommit`` instead; this is the path of a create that must be retried alone.
    func create(_ link: NewLink, idempotency: IdempotencyKey? = nil) async throws -> LinkCreation {
        if let idempotency, let earlier = try await earlierCreation(idempotency) { return earlier }
        let item = LinkBatchItem(link: link, idempotency: idempotency)
        let outcome: LinkBatchOutcome
        do {
            outcome = try await breaker.run { [self] in
                try await client.withConnection { connection in
                    try await insertRounds([item], running: .on(connection, logger: logger))[0].get()
                }
            }
        } catch  where error.isUniqueViolation && error.postgresConstraint == "idempotency_keys_pkey" {
            // A concurrent retry with the same key won the race.
            guard let idempotency, let earlier = try await earlierCreation(idempotency) else { throw error }
            return earlier
        }
        switch outcome {
        case .created(let address), .alreadyImported(let address):
            return LinkCreation(address: address, replayed: false)
        case .aliasTaken: throw APIError.aliasTaken(link.alias ?? "")
        case .noFreeCode: throw APIError.noFreeCode
        }
    }

    /// The link an earlier create with this key made, if any.
    private func earlierCreation(_ idempotency: IdempotencyKey) async throws -> LinkCreation? {
        try await breaker.run { [client, logger] in
            let rows = try await client.query(
                """
                SELECT request_hash, link_key FROM idempotency_keys
                WHERE scope = \(idempotency.scope) AND key = \(idempotency.key)
                """, logger: logger)
            for try await (hash, key) in rows.decode((ByteBuffer, String).self) {
                guard Array(buffer: hash) == idempotency.requestHash else {
                    throw APIError.idempotencyKeyReused
                }
                guard let address = LinkAddress(key: key) else { return nil }
                return LinkCreation(address: address, replayed: true)
            }
            return nil
        }
    }

    /// Marks the link deleted (it keeps its row, so the code is never issued again) and queues
    /// its `link.deleted` event.
    func delete(_ address: LinkAddress) async throws -> LinkDeletion {
        try await breaker.run { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    UPDATE links SET deleted_at = now(), revision = revision + 1
                    WHERE link_key = \(address.key) AND deleted_at IS NULL RETURNING revision
                    """, logger: logger)
                var revision: Int64?
                for try await value in rows.decode(Int64.self) { revision = value }
                guard let revision else {
                    let existing = try await connection.query(
                        "SELECT 1 FROM links WHERE link_key = \(address.key)", logger: logger)
                    for try await _ in existing.decode(Int.self) { return LinkDeletion.alreadyDeleted }
                    return LinkDeletion.notFound
                }
                try await OutboxWriter.append(
                    [
                        OutboxRow(LinkEvent.deleted(address, revision: revision)),
                        OutboxRow(ChangeOrigin.current.audit(.linkDeleted, address.key)),
                    ], on: connection, logger: logger)
                return LinkDeletion.deleted
            }
        }
    }

    /// Applies `edit` to a live link, raising its revision by one, and queues its `link.updated`
    /// event, in one transaction. With `expectedRevision`, only when the link is still at that
    /// revision. A new visit limit at or below the clicks already counted leaves the link used up;
    /// a higher one (or none) makes a used-up link live again.
    func update(_ address: LinkAddress, with edit: LinkChange, expectedRevision: Int64? = nil) async throws
        -> LinkEditOutcome
    {
        do {
            return try await breaker.run { [client, logger] in
                try await client.withTransaction(logger: logger) { connection in
                    try await Self.update(
                        address, with: edit, expectedRevision: expectedRevision, on: connection, logger: logger)
                }
            }
        } catch  where error.isUniqueViolation && error.postgresConstraint == "links_pkey" {
            // A create took the address a move was going to between the check and the move.
            return .addressTaken(LinkAddress(domain: edit.domain, code: address.code))
        }
    }

    /// ``update(_:with:expectedRevision:)`` in the caller's transaction.
    private static func update(
        _ address: LinkAddress, with edit: LinkChange, expectedRevision: Int64?, on connection: PostgresConnection,
        logger: Logger
    ) async throws -> LinkEditOutcome {
        let setsExpiry = edit.expiresAt != .keep
        let expiry = edit.expiresAt.newValue
        let setsLimit = edit.maxClicks != .keep
        let limit = edit.maxClicks.newValue
        var address = address
        var events: [LinkEvent] = []
        // The link as the caller named it, also when it moves to another domain.
        let subject = address.key
        if let domain = edit.domain, domain != address.storedDomain {
            switch try await move(
                address, to: domain, expectedRevision: expectedRevision, on: connection, logger: logger)
            {
            case .moved(let tombstone):
                events.append(tombstone)
                address = LinkAddress(domain: domain, code: address.code)
            case .taken(let destination):
                return .addressTaken(destination)
            case .notMovable:
                break  // the edit below finds the link gone or at another revision, and says so
            }
        }
        // The row lock taken here orders this edit with deletes, other edits and the
        // click aggregator, so the outbox holds this code's events in revision order.
        let rows = try await connection.query(
            """
            UPDATE links SET
                url = coalesce(\(edit.url), url),
                expires_at = CASE WHEN \(setsExpiry) THEN \(expiry) ELSE expires_at END,
                max_clicks = CASE WHEN \(setsLimit) THEN \(limit) ELSE max_clicks END,
                tags = coalesce(\(edit.tags), tags),
                redirect_type = coalesce(\(edit.redirectStatus.map { Int16($0.rawValue) }), redirect_type),
                forward_query = coalesce(\(edit.forwardQuery), forward_query),
                crawlable = coalesce(\(edit.crawlable), crawlable),
                title = CASE WHEN \(edit.title != .keep) THEN \(edit.title.newValue) ELSE title END,
                notes = CASE WHEN \(edit.notes != .keep) THEN \(edit.notes.newValue) ELSE notes END,
                utm = CASE WHEN \(edit.utm != .keep) THEN \(edit.utm.newValue?.query) ELSE utm END,
                routing = NULLIF(jsonb_strip_nulls(jsonb_build_object(
                    'rules', CASE WHEN \(edit.rules != nil) THEN \(Self.json(edit.rules))::jsonb
                        ELSE coalesce(routing->'rules', '[]'::jsonb) END,
                    'split', CASE WHEN \(edit.split != .keep) THEN \(Self.json(edit.split.newValue))::jsonb
                        ELSE routing->'split' END)), '{"rules": []}'::jsonb),
                password_hash = CASE WHEN \(edit.passwordHash != .keep) THEN \(edit.passwordHash.newValue)
                    ELSE password_hash END,
                exhausted_at = CASE
                    WHEN NOT \(setsLimit) THEN exhausted_at
                    WHEN \(limit)::bigint IS NOT NULL AND \(limit)::bigint <= COALESCE(
                        (SELECT sum(c.total) FROM click_counts c WHERE c.link_key = links.link_key), 0)
                    THEN coalesce(exhausted_at, now())
                    END,
                revision = revision + 1
            WHERE link_key = \(address.key) AND deleted_at IS NULL
                AND (\(expectedRevision)::bigint IS NULL OR revision = \(expectedRevision)::bigint)
            RETURNING revision, url, expires_at, max_clicks, tags, exhausted_at IS NOT NULL,
                redirect_type, forward_query, crawlable, utm, routing::text, password_hash
            """, logger: logger)
        var updated: LinkEvent?
        for try await (
            revision, url, expiresAt, maxClicks, tags, exhausted, status, forward, crawlable, utm, routing, password
        )
            in rows.decode(
                (Int64, String, Date?, Int64?, [String], Bool, Int16, Bool, Bool, String?, String?, String?).self)
        {
            updated = LinkEvent.updated(
                address, revision: revision, url: url, expiresAt: expiresAt, maxClicks: maxClicks,
                tags: tags, redirect: Self.redirect(status, forward, crawlable),
                utm: utm.map(UTMParameters.init(query:)), routing: Self.routing(routing), passwordHash: password,
                exhausted: exhausted)
        }
        guard let updated else {
            let existing = try await connection.query(
                "SELECT deleted_at IS NOT NULL, revision FROM links WHERE link_key = \(address.key)",
                logger: logger)
            for try await (deleted, revision) in existing.decode((Bool, Int64).self) {
                return deleted ? LinkEditOutcome.deleted : LinkEditOutcome.revisionMismatch(current: revision)
            }
            return LinkEditOutcome.notFound
        }
        try await OutboxWriter.append(
            (events + [updated]).map(OutboxRow.init) + [OutboxRow(ChangeOrigin.current.audit(.linkUpdated, subject))],
            on: connection, logger: logger)
        let current = try await connection.query(
            "SELECT \(unescaped: Self.detailColumns) FROM links l WHERE l.link_key = \(address.key)",
            logger: logger)
        for try await row in current.decode(DetailRow.self) {
            return LinkEditOutcome.edited(Self.link(row, now: Date()))
        }
        return LinkEditOutcome.notFound
    }

    /// What a move found.
    private enum Move {
        /// Moved; the old address now holds a deleted link, announced by this event.
        case moved(LinkEvent)
        /// The destination has a link with the code, live or deleted.
        case taken(LinkAddress)
        /// The link is gone or at another revision: nothing was done.
        case notMovable
    }

    /// Moves the link at `address` to `domain` (its stored name) in the caller's transaction:
    /// the row takes the new address; the old one keeps a deleted link (so its code is never
    /// issued again there, and replicas answer it as a deleted link); the link's click totals
    /// and analytics go with it, under epochs marked `:moved` so that the replicas' new running
    /// totals for the new address never meet them (each row keeps the highest total seen).
    /// Totals reported late for the old address stay with the deleted link there.
    private static func move(
        _ address: LinkAddress, to domain: String, expectedRevision: Int64?, on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Move {
        let destination = LinkAddress(domain: domain, code: address.code)
        let (old, new) = (address.key, destination.key)
        let locked = try await connection.query(
            """
            SELECT revision FROM links WHERE link_key = \(old) AND deleted_at IS NULL
                AND (\(expectedRevision)::bigint IS NULL OR revision = \(expectedRevision)::bigint)
            FOR UPDATE
            """, logger: logger)
        var revision: Int64?
        for try await value in locked.decode(Int64.self) { revision = value }
        guard let revision else { return .notMovable }
        let taken = try await connection.query("SELECT 1 FROM links WHERE link_key = \(new)", logger: logger)
        for try await _ in taken { return .taken(destination) }
        try await connection.query("UPDATE links SET domain = \(domain) WHERE link_key = \(old)", logger: logger)
        try await connection.query(
            """
            INSERT INTO links (code, domain, url, created_at, deleted_at, revision)
            SELECT code, \(address.storedDomain), url, created_at, now(), revision + 1 FROM links WHERE link_key = \(new)
            """, logger: logger)
        for table in ["click_counts", "click_hours", "click_days", "click_values"] {
            try await connection.query(
                """
                UPDATE \(unescaped: table) SET link_key = \(new), replica_epoch = replica_epoch || ':moved'
                WHERE link_key = \(old)
                """, logger: logger)
        }
        try await connection.query(
            "UPDATE idempotency_keys SET link_key = \(new) WHERE link_key = \(old)", logger: logger)
        return .moved(LinkEvent.deleted(address, revision: revision + 1))
    }

    /// The columns every read returns, with the click total (the sum of the replicas'
    /// highest totals).
    private static let detailColumns = """
        l.domain, l.code, l.url, l.created_at, l.expires_at, l.max_clicks, l.tags, l.revision,
        l.deleted_at IS NOT NULL, l.exhausted_at IS NOT NULL,
        COALESCE((SELECT sum(c.total) FROM click_counts c WHERE c.link_key = l.link_key), 0)::bigint,
        l.redirect_type, l.forward_query, l.crawlable, l.title, l.notes, l.utm, l.created_by_key, l.created_by_name,
        l.routing::text, l.password_hash IS NOT NULL
        """

    private typealias DetailRow = (
        String, String, String, Date, Date?, Int64?, [String], Int64, Bool, Bool, Int64, Int16, Bool, Bool, String?,
        String?, String?, String?, String?, String?, Bool
    )

    /// A link's routing as stored (`routing::text`; NULL for none). The column is written only
    /// from checked routing, so a row that does not read back is none.
    static func routing(_ text: String?) -> LinkRouting {
        text.flatMap { try? LinkRouting.parse(Array($0.utf8)) } ?? .none
    }

    /// `value` as JSON text for a `jsonb` bind (`null` for nil).
    private static func json(_ value: (some Encodable)?) -> String {
        guard let value, let data = try? JSONEncoder.project.encode(value) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    /// A link's redirect options as stored (the column's check allows only the four statuses).
    static func redirect(_ status: Int16, _ forwardQuery: Bool, _ crawlable: Bool) -> RedirectOptions {
        RedirectOptions(
            status: RedirectOptions.Status(rawValue: Int(status)) ?? .found, forwardQuery: forwardQuery,
            crawlable: crawlable)
    }

    private static func link(_ row: DetailRow, now: Date) -> Link {
        let (domain, code, url, createdAt, expiresAt, maxClicks, tags, revision, deleted, exhausted, clicks) =
            (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10)
        return Link(
            address: LinkAddress(domain: domain, code: code), url: url, createdAt: createdAt, expiresAt: expiresAt,
            maxClicks: maxClicks, tags: tags, redirect: redirect(row.11, row.12, row.13), title: row.14, notes: row.15,
            utm: row.16.map(UTMParameters.init(query:)), routing: routing(row.19), passwordProtected: row.20,
            createdBy: row.17.map { LinkAuthor(id: $0, name: row.18 ?? "") }, revision: revision, clicks: clicks,
            status: Link.status(
                deleted: deleted, exhausted: exhausted, clicks: clicks, maxClicks: maxClicks, expiresAt: expiresAt,
                now: now))
    }

    func link(_ address: LinkAddress) async throws -> Link? {
        try await breaker.run { [client, logger] in
            let rows = try await client.query(
                "SELECT \(unescaped: Self.detailColumns) FROM links l WHERE l.link_key = \(address.key)",
                logger: logger)
            for try await row in rows.decode(DetailRow.self) { return Self.link(row, now: Date()) }
            return nil
        }
    }

    func liveLink(to url: String, on domain: String?) async throws -> Link? {
        try await breaker.run { [client, logger] in
            // Found through the url's trigram index (equality is one of its operators).
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.detailColumns) FROM links l
                WHERE l.url = \(url) AND l.domain = \(domain ?? "") AND l.deleted_at IS NULL AND l.exhausted_at IS NULL
                    AND (l.expires_at IS NULL OR l.expires_at > now())
                ORDER BY l.created_at DESC LIMIT 1
                """, logger: logger)
            for try await row in rows.decode(DetailRow.self) {
                let link = Self.link(row, now: Date())
                if link.status == .active { return link }
            }
            return nil
        }
    }

    /// The one indexed lookup that the QR code and the stats need, without the click total's sum.
    func creationTime(of address: LinkAddress) async throws -> Date? {
        try await breaker.run { [client, logger] in
            let rows = try await client.query(
                "SELECT created_at FROM links WHERE link_key = \(address.key)", logger: logger)
            for try await createdAt in rows.decode(Date.self) { return createdAt }
            return nil
        }
    }

    /// Every link (only those on `domain` and tagged `tag`, when given), oldest first, as a
    /// stream that Postgres sends while `body` takes it: `master links export` of a million
    /// links in flat memory. Straight on the client, not through the breaker: one long read that
    /// a call timeout would cut, made by a command that stops on the first error anyway.
    func forEachLink(on domain: String? = nil, tagged tag: String?, _ body: (Link) throws -> Void) async throws {
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.detailColumns) FROM links l
            WHERE (\(tag)::text IS NULL OR l.tags @> ARRAY[\(tag)::text])
                AND (\(domain)::text IS NULL OR l.domain = \(domain)::text)
            ORDER BY l.created_at, l.link_key
            """, logger: logger)
        let now = Date()
        for try await row in rows.decode(DetailRow.self) { try body(Self.link(row, now: now)) }
    }

    /// Matches from which a search counts as common (see ``planSearch(_:on:logger:)``).
    static let commonSearchMatches = 200

    /// Chooses how the search for `pattern` in this transaction is read. Postgres guesses how
    /// many links a `%text%` holds and, guessing a few hundred, walks the newest-first index
    /// until it has a page: for a text no link holds, that reads every link (half a second at a
    /// million links, and twenty at once outlast the timeout). So the trigram indexes count
    /// up to ``commonSearchMatches`` matches first (milliseconds for a rare text, ~0.2 s when
    /// every link matches): a rare text is then read from those indexes and sorted, a common
    /// one from the newest-first index, which soon fills a page.
    private static func planSearch(_ pattern: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_indexscan', 'off', true)",
            logger: logger)
        let probe = try await connection.query(
            """
            SELECT count(*) FROM (
                SELECT 1 FROM links l
                WHERE l.code ILIKE \(pattern)::text OR l.url ILIKE \(pattern)::text
                    OR l.title ILIKE \(pattern)::text OR l.notes ILIKE \(pattern)::text
                LIMIT \(commonSearchMatches)) matches
            """, logger: logger)
        var matches = 0
        for try await count in probe.decode(Int.self) { matches = count }
        if matches >= commonSearchMatches {
            try await connection.query(
                "SELECT set_config('enable_seqscan', 'on', true), set_config('enable_indexscan', 'on', true)",
                logger: logger)
        }
    }

    /// Longest a listing or search may run in Postgres: 1 s, half the breaker's call timeout.
    /// One that takes longer answers `400 search_too_slow`, never counted as an outage.
    static let listTimeoutMilliseconds = 1000

    func list(limit: Int, after cursor: LinkCursor?, filter: LinkFilter = LinkFilter()) async throws -> [Link] {
        let (domain, tag, visibility) = (filter.domain, filter.tag, filter.visibility)
        // A LIKE pattern that matches the search text literally, anywhere, in any case.
        let pattern = filter.search.map { text in
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
                if let pattern { try await Self.planSearch(pattern, on: connection, logger: logger) }
                // The keyset starts above every link without a cursor; the tag and search tests are
                // true without a tag or a search.
                let after = cursor ?? LinkCursor(createdAt: LinkLimits.latestExpiry, key: "")
                let rows = try await connection.query(
                    """
                    SELECT \(unescaped: Self.detailColumns) FROM links l
                    WHERE (l.created_at, l.link_key) < (\(after.createdAt), \(after.key))
                        AND (\(domain)::text IS NULL OR l.domain = \(domain)::text)
                        AND (\(tag)::text IS NULL OR l.tags @> ARRAY[\(tag)::text])
                        AND (\(visibility.createdBy)::text IS NULL OR l.created_by_key = \(visibility.createdBy)::text)
                        AND (cardinality(\(visibility.anyOfTags)::text[]) = 0 OR l.tags && \(visibility.anyOfTags)::text[])
                        AND (cardinality(\(visibility.domains)::text[]) = 0 OR l.domain = ANY(\(visibility.domains)::text[]))
                        AND (\(pattern)::text IS NULL OR l.code ILIKE \(pattern)::text OR l.url ILIKE \(pattern)::text
                            OR l.title ILIKE \(pattern)::text OR l.notes ILIKE \(pattern)::text)
                    ORDER BY l.created_at DESC, l.link_key DESC LIMIT \(limit)
                    """, logger: logger)
                let now = Date()
                var links: [Link] = []
                for try await row in rows.decode(DetailRow.self) { links.append(Self.link(row, now: now)) }
                return links
            }
        }
    }
}
