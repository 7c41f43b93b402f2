import Foundation
import NIOCore
import PostgresNIO
import SharedEvents
import SharedJSON
import SharedLinks
import SharedPostgres

/// The create statement: every create of the master, alone or in a batch, is a round of it
/// (``PostgresLinkRepository/insertRounds(_:running:)``), and `bench/create.pgbench` runs it too.
/// Run as a prepared statement: every value is a bind, so its text never changes, and Postgres
/// parses it once per connection and soon stops planning it (planning it anew each time would
/// be a large share of a flush's work in Postgres).
struct CreateStatement: PostgresPreparedStatement {
    typealias Row = String

    /// Its name on the connection (the default name is built by reflection on every run).
    static let name = "create_links"
    static let sql = Self([], addresses: [], at: Date(timeIntervalSince1970: 0)).query.sql

    let query: PostgresQuery

    /// The round that gives `items` the `addresses` (their domain and an alias, or a new random
    /// code), at `now`. Its rows are the keys (``LinkAddress/key``) of the links it inserted.
    init(_ items: [LinkBatchItem], addresses: [LinkAddress], at now: Date) {
        let events = zip(items, addresses).map { item, address in
            LinkEvent.created(
                address, url: item.link.url, expiresAt: item.link.expiresAt, maxClicks: item.link.maxClicks,
                tags: item.link.tags, redirect: item.link.redirect, utm: item.link.utm, routing: item.link.routing,
                passwordHash: item.link.passwordHash, at: now)
        }
        let audits = zip(items, addresses).map { item, address in
            OutboxRow(item.link.origin.audit(.linkCreated, address.key, at: now))
        }
        // Arrays carry no NULLs here: '' and 0 stand for "none" and become NULL in SQL.
        query = """
            WITH input AS (
                SELECT * FROM unnest(
                    \(addresses.map(\.storedDomain))::text[], \(addresses.map(\.code))::text[],
                    \(items.map(\.link.url))::text[],
                    \(items.map { $0.link.expiresAt.map(RFC3339.format) ?? "" })::text[],
                    \(items.map { $0.link.maxClicks ?? 0 })::bigint[],
                    \(items.map { $0.link.tags.joined(separator: " ") })::text[],
                    \(items.map { Int16($0.link.redirect.status.rawValue) })::smallint[],
                    \(items.map(\.link.redirect.forwardQuery))::boolean[],
                    \(items.map(\.link.redirect.crawlable))::boolean[],
                    \(items.map { $0.link.title ?? "" })::text[], \(items.map { $0.link.notes ?? "" })::text[],
                    \(items.map { $0.link.utm?.query ?? "" })::text[],
                    \(items.map { $0.link.routing.isEmpty ? "" : String(decoding: $0.link.routing.json, as: UTF8.self) })::text[],
                    \(items.map { $0.link.passwordHash ?? "" })::text[],
                    \(items.map { $0.importKey ?? "" })::text[],
                    \(items.map { $0.link.origin.actor?.id ?? "" })::text[],
                    \(items.map { $0.link.origin.actor?.name ?? "" })::text[],
                    \(items.map { $0.idempotency?.scope ?? "" })::text[],
                    \(items.map { $0.idempotency?.key ?? "" })::text[],
                    \(items.map { ByteBuffer(bytes: $0.idempotency?.requestHash ?? []) })::bytea[]
                ) WITH ORDINALITY AS i(
                    domain, code, url, expires_at, max_clicks, tags, redirect_type, forward_query, crawlable,
                    title, notes, utm, routing, password_hash, import_key, created_by_key, created_by_name, scope, key, hash,
                    n)
            ), inserted AS (
                INSERT INTO links (
                    domain, code, url, expires_at, max_clicks, tags, redirect_type, forward_query, crawlable,
                    title, notes, utm, routing, password_hash, import_key, created_by_key, created_by_name, created_at)
                SELECT domain, code, url, NULLIF(expires_at, '')::timestamptz, NULLIF(max_clicks, 0),
                    string_to_array(tags, ' '), redirect_type, forward_query, crawlable, NULLIF(title, ''),
                    NULLIF(notes, ''), NULLIF(utm, ''), NULLIF(routing, '')::jsonb, NULLIF(password_hash, ''),
                    NULLIF(import_key, ''),
                    NULLIF(created_by_key, ''),
                    CASE WHEN created_by_key <> '' THEN created_by_name END,
                    \(now)::timestamptz + make_interval(secs => n / 1000000.0)
                FROM input ORDER BY n
                ON CONFLICT DO NOTHING
                RETURNING link_key
            ), queued AS (
                \(outboxInsert: events.map(OutboxRow.init), keysIn: "inserted")
            ), audited AS (
                \(outboxInsert: audits, keysIn: "inserted")
            ), remembered AS (
                -- The key of the item that got the address (the first to ask for it). Plain
                -- INSERT: a key another writer stored meanwhile fails the whole statement.
                INSERT INTO idempotency_keys (scope, key, request_hash, link_key)
                SELECT DISTINCT ON (link_key) scope, key, hash, link_key
                FROM (SELECT *, CASE WHEN domain = '' THEN code ELSE domain || '/' || code END AS link_key FROM input) keyed
                WHERE key <> '' AND link_key IN (SELECT link_key FROM inserted)
                ORDER BY link_key, n
            )
            SELECT link_key FROM inserted
            """
    }

    func makeBindings() -> PostgresBindings { query.binds }

    func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
}
