import Foundation
import Logging
import NIOCore
import PostgresNIO
import SharedEvents
import SharedLinks
import SharedPostgres
import SharedService

/// Creating many links at once: `POST /api/links/bulk` and `master links import`.
extension LinkRepository {
    /// One link of a batch: what to create, and for imports the key of its row.
    struct BatchItem: Sendable {
        let link: NewLink
        /// A hash of the imported row: a row imported before is found by it, not created again.
        var importKey: String?
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
                    throw APIError(
                        .unprocessableContent, "idempotency_key_reused",
                        "this Idempotency-Key was used for a different request")
                }
                return response
            }
            return nil
        }
    }

    /// The rounds of one batch, on `connection` inside the caller's transaction.
    private func insert(_ items: [BatchItem], on connection: PostgresConnection) async throws -> [BatchOutcome] {
        var outcomes = [BatchOutcome?](repeating: nil, count: items.count)
        var pending = Array(items.indices)
        for _ in 1...Self.maximumAttempts where !pending.isEmpty {
            let now = Date()
            let codes = pending.map { items[$0].link.alias ?? ShortCode.random() }
            let events = zip(pending, codes).map { index, code in
                let link = items[index].link
                return LinkEvent.created(
                    code: code, url: link.url, expiresAt: link.expiresAt, maxClicks: link.maxClicks, tags: link.tags,
                    at: now)
            }
            let batch = pending.map { items[$0] }
            // Arrays carry no NULLs here: '' and 0 stand for "none" and become NULL in SQL.
            let statement: PostgresQuery = """
                WITH input AS (
                    SELECT * FROM unnest(
                        \(codes)::text[], \(batch.map(\.link.url))::text[],
                        \(batch.map { $0.link.expiresAt.map(RFC3339.format) ?? "" })::text[],
                        \(batch.map { $0.link.maxClicks ?? 0 })::bigint[],
                        \(batch.map { $0.link.tags.joined(separator: " ") })::text[],
                        \(batch.map { $0.importKey ?? "" })::text[]
                    ) WITH ORDINALITY AS i(code, url, expires_at, max_clicks, tags, import_key, n)
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
                )
                SELECT code FROM inserted
                """
            var inserted = Set<String>()
            for try await code in try await connection.query(statement, logger: logger).decode(String.self) {
                inserted.insert(code)
            }
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
            let imported = try await importedCodes(refused.compactMap { items[$0].importKey }, on: connection)
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
            pending = next
        }
        for index in pending { outcomes[index] = .noFreeCode }
        return outcomes.map { $0! }
    }

    /// Import key → code, for the keys some link already has.
    private func importedCodes(_ keys: [String], on connection: PostgresConnection) async throws -> [String: String] {
        guard !keys.isEmpty else { return [:] }
        var codes: [String: String] = [:]
        let rows = try await connection.query(
            "SELECT import_key, code FROM links WHERE import_key = ANY(\(keys)::text[])", logger: logger)
        for try await (key, code) in rows.decode((String, String).self) { codes[key] = code }
        return codes
    }
}
