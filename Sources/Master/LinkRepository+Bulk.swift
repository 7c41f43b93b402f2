import Foundation
import Logging
import NIOCore
import PostgresNIO
import SharedEvents
import SharedLinks
import SharedPostgres
import SharedService

/// Creating many links at once: `POST /api/links/bulk`, `master links import` and the group
/// commit of concurrent `POST /create`s.
extension LinkRepository {
    /// One link of a batch: what to create, and for imports the key of its row.
    struct BatchItem: Sendable {
        let link: NewLink
        /// A hash of the imported row: a row imported before is found by it, not created again.
        var importKey: String?
        /// A grouped create's `Idempotency-Key`, kept with its link in the same statement.
        var idempotency: IdempotencyKey?
    }

    /// What became of one item of a batch.
    enum BatchOutcome: Sendable, Equatable {
        case created(code: String)
        /// The row was imported before (by its import key), as this link.
        case alreadyImported(code: String)
        /// Its alias is taken.
        case aliasTaken
        /// No free generated code after ``maximumAttempts`` tries.
        case noFreeCode
    }

    /// A batch's `Idempotency-Key`, and the answer to keep with it.
    struct BatchIdempotency: Sendable {
        let key: IdempotencyKey
        /// Renders the answer from the outcomes, to be kept and given to retries.
        let answer: @Sendable ([BatchOutcome]) throws -> ByteBuffer
    }

    /// What a batch with an `Idempotency-Key` did.
    enum BatchAnswer: Sendable {
        case fresh(ByteBuffer)
        /// The answer an earlier request with the same key got.
        case replayed(ByteBuffer)
    }

    /// Creates `items` (and their `link.created` outbox rows) in one transaction, with one
    /// statement per round: items whose generated code collided get a new one in the next round,
    /// so most batches take one round trip. Outcomes come back in the items' order.
    func createMany(_ items: [BatchItem]) async throws -> [BatchOutcome] {
        try await breaker.run { [self] in
            try await client.withTransaction(logger: logger) { connection in
                try await insert(items, on: connection)
            }
        }
    }

    /// ``createMany(_:)`` for a request with an `Idempotency-Key`: the answer is kept in the same
    /// transaction as the links, so a retry gets exactly it back and creates nothing twice.
    /// Throws ``APIError`` 422 when the key was used for a different request.
    func createMany(_ items: [BatchItem], idempotency: BatchIdempotency) async throws -> BatchAnswer {
        if let earlier = try await earlierAnswer(idempotency.key) { return .replayed(earlier) }
        do {
            return try await breaker.run { [self] in
                try await client.withTransaction(logger: logger) { connection in
                    let answer = try idempotency.answer(try await insert(items, on: connection))
                    try await connection.query(
                        """
                        INSERT INTO bulk_requests (scope, key, request_hash, response)
                        VALUES (\(idempotency.key.scope), \(idempotency.key.key),
                            \(ByteBuffer(bytes: idempotency.key.requestHash)), \(answer))
                        """, logger: logger)
                    return .fresh(answer)
                }
            }
        } catch  where error.isUniqueViolation && error.postgresConstraint == "bulk_requests_pkey" {
            // A concurrent retry with the same key won; its links stand, this one's rolled back.
            guard let earlier = try await earlierAnswer(idempotency.key) else { throw error }
            return .replayed(earlier)
        }
    }

    /// The answer kept for `key`, if a request used it before.
    private func earlierAnswer(_ key: IdempotencyKey) async throws -> ByteBuffer? {
        try await breaker.run { [client, logger] in
            let rows = try await client.query(
                "SELECT request_hash, response FROM bulk_requests WHERE scope = \(key.scope) AND key = \(key.key)",
                logger: logger)
            for try await (hash, response) in rows.decode((ByteBuffer, ByteBuffer).self) {
                guard Array(buffer: hash) == key.requestHash else {
                    throw APIError.idempotencyKeyReused
                }
                return response
            }
            return nil
        }
    }

    /// How the statements of a batch run: each on its own on the group-commit writer's
    /// connection, or inside a transaction on its connection (a bulk create).
    struct BatchRunner {
        /// Runs a one-off statement; its rows.
        let query: (PostgresQuery) async throws -> [PostgresRow]
        /// Runs a round's insert, as the prepared statement it is; the codes it inserted.
        let insertRound: (InsertRoundStatement) async throws -> [String]

        /// Statements on `connection`, inside the caller's transaction.
        static func on(_ connection: PostgresConnection, logger: Logger) -> Self {
            Self(
                query: { try await connection.query($0, logger: logger).collect() },
                insertRound: { try await connection.execute($0, logger: logger).collect() })
        }
    }

    /// The rounds of one batch, on `connection` inside the caller's transaction.
    private func insert(_ items: [BatchItem], on connection: PostgresConnection) async throws -> [BatchOutcome] {
        let (outcomes, error) = await insertRounds(items, running: .on(connection, logger: logger))
        if let error { throw error }
        return outcomes.map { $0! }
    }

    /// The rounds of one batch, through `run`. Each round is one statement: its links, their
    /// outbox rows and idempotency keys, or none. When a round fails, the outcomes of the rounds
    /// before stand and the rest are nil.
    func insertRounds(_ items: [BatchItem], running run: BatchRunner) async
        -> (outcomes: [BatchOutcome?], error: (any Error)?)
    {
        var outcomes = [BatchOutcome?](repeating: nil, count: items.count)
        var pending = Array(items.indices)
        for _ in 1...Self.maximumAttempts where !pending.isEmpty {
            do {
                pending = try await insertRound(items, pending: pending, into: &outcomes, running: run)
            } catch {
                return (outcomes, error)
            }
        }
        for index in pending { outcomes[index] = .noFreeCode }
        return (outcomes, nil)
    }

    /// One round: the `pending` items with a code each (an alias, or a new random one) in one
    /// statement; decides the outcomes it can and returns the items whose generated code collided.
    private func insertRound(
        _ items: [BatchItem], pending: [Int], into outcomes: inout [BatchOutcome?], running run: BatchRunner
    ) async throws -> [Int] {
        let codes = pending.map { items[$0].link.alias ?? ShortCode.random() }
        let round = InsertRoundStatement(pending.map { items[$0] }, codes: codes, at: Date())
        let inserted = Set(try await run.insertRound(round))
        // A code goes to the first item that asked for it; a later one with the same alias
        // is refused like any taken alias.
        var claimed = Set<String>()
        var refused: [Int] = []
        for (index, code) in zip(pending, codes) {
            if inserted.contains(code), claimed.insert(code).inserted {
                outcomes[index] = .created(code: code)
            } else {
                refused.append(index)
            }
        }
        let imported = try await importedCodes(refused.compactMap { items[$0].importKey }, running: run.query)
        var next: [Int] = []
        for index in refused {
            if let key = items[index].importKey, let existing = imported[key] {
                outcomes[index] = .alreadyImported(code: existing)
            } else if items[index].link.alias != nil {
                outcomes[index] = .aliasTaken
            } else {
                next.append(index)  // a generated code collided: another one next round
            }
        }
        return next
    }

    /// Import key → code, for the keys some link already has.
    private func importedCodes(_ keys: [String], running run: (PostgresQuery) async throws -> [PostgresRow])
        async throws -> [String: String]
    {
        guard !keys.isEmpty else { return [:] }
        let rows = try await run("SELECT import_key, code FROM links WHERE import_key = ANY(\(keys)::text[])")
        var codes: [String: String] = [:]
        for row in rows {
            let (key, code) = try row.decode((String, String).self)
            codes[key] = code
        }
        return codes
    }
}

/// The one statement of a round of ``LinkRepository/insertRounds(_:running:)``, run as a
/// prepared statement: every value is a bind, so its text never changes, and Postgres parses it
/// once per connection and soon stops planning it. Planning it took ~0.4 ms of Postgres CPU per
/// run, a quarter of a group commit's flush of 8 creates.
struct InsertRoundStatement: PostgresPreparedStatement {
    typealias Row = String

    /// Its name on the connection (the default name is built by reflection on every run).
    static let name = "insert_round"
    static let sql = Self([], codes: [], at: Date(timeIntervalSince1970: 0)).query.sql

    let query: PostgresQuery

    /// The round that gives `items` the `codes` (an alias, or a new random one), at `now`.
    init(_ items: [LinkRepository.BatchItem], codes: [String], at now: Date) {
        let events = zip(items, codes).map { item, code in
            LinkEvent.created(
                code: code, url: item.link.url, expiresAt: item.link.expiresAt, maxClicks: item.link.maxClicks,
                tags: item.link.tags, at: now)
        }
        // Arrays carry no NULLs here: '' and 0 stand for "none" and become NULL in SQL.
        query = """
            WITH input AS (
                SELECT * FROM unnest(
                    \(codes)::text[], \(items.map(\.link.url))::text[],
                    \(items.map { $0.link.expiresAt.map(RFC3339.format) ?? "" })::text[],
                    \(items.map { $0.link.maxClicks ?? 0 })::bigint[],
                    \(items.map { $0.link.tags.joined(separator: " ") })::text[],
                    \(items.map { $0.importKey ?? "" })::text[],
                    \(items.map { $0.idempotency?.scope ?? "" })::text[],
                    \(items.map { $0.idempotency?.key ?? "" })::text[],
                    \(items.map { ByteBuffer(bytes: $0.idempotency?.requestHash ?? []) })::bytea[]
                ) WITH ORDINALITY AS i(code, url, expires_at, max_clicks, tags, import_key, scope, key, hash, n)
            ), inserted AS (
                INSERT INTO links (code, url, expires_at, max_clicks, tags, import_key, created_at)
                SELECT code, url, NULLIF(expires_at, '')::timestamptz, NULLIF(max_clicks, 0),
                    string_to_array(tags, ' '), NULLIF(import_key, ''),
                    \(now)::timestamptz + make_interval(secs => n / 1000000.0)
                FROM input ORDER BY n
                ON CONFLICT DO NOTHING
                RETURNING code
            ), queued AS (
                \(outboxInsert: events.map(OutboxRow.init), keysIn: "inserted")
            ), remembered AS (
                -- The key of the item that got the code (the first to ask for it). Plain
                -- INSERT: a key another writer stored meanwhile fails the whole statement.
                INSERT INTO idempotency_keys (scope, key, request_hash, code)
                SELECT DISTINCT ON (code) scope, key, hash, code FROM input
                WHERE key <> '' AND code IN (SELECT code FROM inserted)
                ORDER BY code, n
            )
            SELECT code FROM inserted
            """
    }

    func makeBindings() -> PostgresBindings { query.binds }

    func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
}

extension AsyncSequence {
    /// Every element, in order.
    func collect() async throws -> [Element] {
        var elements: [Element] = []
        for try await element in self { elements.append(element) }
        return elements
    }
}
