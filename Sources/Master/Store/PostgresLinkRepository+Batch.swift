import Foundation
import Logging
import NIOCore
import PostgresNIO
import SharedEvents
import SharedLinks
import SharedPostgres
import SharedService

/// Creating many links at once: `POST /api/links/bulk`, `master links import`, the group commit
/// of concurrent `POST /create`s and a create retried alone, every one by ``CreateStatement``.
extension PostgresLinkRepository {
    /// Creates `items` (and their `link.created` outbox rows) in one transaction, with one
    /// statement per round: items whose generated code collided get a new one in the next round,
    /// so most batches take one round trip. Outcomes come back in the items' order.
    func createMany(_ items: [LinkBatchItem]) async throws -> [LinkBatchOutcome] {
        try await breaker.run { [self] in
            try await client.withTransaction(logger: logger) { connection in
                try await insert(items, on: connection)
            }
        }
    }

    /// ``createMany(_:)`` for a request with an `Idempotency-Key`: the answer is kept in the same
    /// transaction as the links, so a retry gets exactly it back and creates nothing twice.
    /// Throws ``APIError`` 422 when the key was used for a different request.
    func createMany(_ items: [LinkBatchItem], idempotency: BatchIdempotency) async throws -> BatchAnswer {
        if let earlier = try await earlierAnswer(idempotency.key) { return .replayed(earlier) }
        do {
            return try await breaker.run { [self] in
                try await client.withTransaction(logger: logger) { connection in
                    let outcomes = try await insert(items, on: connection)
                    let answer = try idempotency.answer(outcomes)
                    try await connection.query(
                        """
                        INSERT INTO bulk_requests (scope, key, request_hash, response)
                        VALUES (\(idempotency.key.scope), \(idempotency.key.key),
                            \(ByteBuffer(bytes: idempotency.key.requestHash)), \(answer))
                        """, logger: logger)
                    return .fresh(answer, outcomes: outcomes)
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
        /// Runs a round's insert, as the prepared statement it is; the keys of the links it inserted.
        let insertRound: (CreateStatement) async throws -> [String]

        /// Statements on `connection`, inside the caller's transaction.
        static func on(_ connection: PostgresConnection, logger: Logger) -> Self {
            Self(
                query: { try await connection.query($0, logger: logger).collect() },
                insertRound: { try await connection.execute($0, logger: logger).collect() })
        }
    }

    /// The rounds of one batch, on `connection` inside the caller's transaction.
    private func insert(_ items: [LinkBatchItem], on connection: PostgresConnection) async throws -> [LinkBatchOutcome]
    {
        try await insertRounds(items, running: .on(connection, logger: logger)).map { try $0.get() }
    }

    /// The rounds of one batch, through `run`, and each item's outcome. Each round is one
    /// statement: its links, their outbox rows and idempotency keys, or none. When a round
    /// fails, the outcomes of the rounds before stand and every item still pending fails with
    /// the round's error.
    func insertRounds(_ items: [LinkBatchItem], running run: BatchRunner) async
        -> [Result<LinkBatchOutcome, any Error>]
    {
        var outcomes = [LinkBatchOutcome?](repeating: nil, count: items.count)
        var pending = Array(items.indices)
        for _ in 1...LinkCreation.maximumCodeAttempts where !pending.isEmpty {
            do {
                pending = try await insertRound(items, pending: pending, into: &outcomes, running: run)
            } catch {
                return outcomes.map { $0.map { .success($0) } ?? .failure(error) }
            }
        }
        // What no round decided had a generated code collide every time.
        return outcomes.map { .success($0 ?? .noFreeCode) }
    }

    /// One round: the `pending` items with a code each (an alias, or a new random one) on their
    /// domain in one statement; decides the outcomes it can and returns the items whose
    /// generated code collided.
    private func insertRound(
        _ items: [LinkBatchItem], pending: [Int], into outcomes: inout [LinkBatchOutcome?], running run: BatchRunner
    ) async throws -> [Int] {
        let addresses = pending.map {
            LinkAddress(domain: items[$0].link.domain, code: items[$0].link.alias ?? ShortCode.random())
        }
        let round = CreateStatement(pending.map { items[$0] }, addresses: addresses, at: Date())
        let inserted = Set(try await run.insertRound(round))
        // An address goes to the first item that asked for it; a later one with the same alias
        // on the same domain is refused like any taken alias.
        var claimed = Set<String>()
        var refused: [Int] = []
        for (index, address) in zip(pending, addresses) {
            if inserted.contains(address.key), claimed.insert(address.key).inserted {
                outcomes[index] = .created(address)
            } else {
                refused.append(index)
            }
        }
        let imported = try await importedCodes(refused.compactMap { items[$0].importKey }, running: run.query)
        var next: [Int] = []
        for index in refused {
            if let key = items[index].importKey, let existing = imported[key] {
                outcomes[index] = .alreadyImported(existing)
            } else if items[index].link.alias != nil {
                outcomes[index] = .aliasTaken
            } else {
                next.append(index)  // a generated code collided: another one next round
            }
        }
        return next
    }

    /// Another shortener's visit counts, carried over as each link's starting clicks: one
    /// `click_counts` row per link under the replica `import`, so the link's total (the sum of
    /// its rows) starts there and an import run again adds nothing.
    func carryOverClicks(_ clicks: [(LinkAddress, Int64)]) async throws {
        guard !clicks.isEmpty else { return }
        try await breaker.run { [client, logger] in
            try await client.query(
                """
                INSERT INTO click_counts (link_key, replica_id, replica_epoch, total)
                SELECT key, 'import', 'import', total FROM unnest(
                    \(clicks.map(\.0.key))::text[], \(clicks.map(\.1))::bigint[]) AS c(key, total)
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
    }

    /// Import key → the link's address, for the keys some link already has.
    private func importedCodes(_ keys: [String], running run: (PostgresQuery) async throws -> [PostgresRow])
        async throws -> [String: LinkAddress]
    {
        guard !keys.isEmpty else { return [:] }
        let rows = try await run("SELECT import_key, domain, code FROM links WHERE import_key = ANY(\(keys)::text[])")
        var addresses: [String: LinkAddress] = [:]
        for row in rows {
            let (key, domain, code) = try row.decode((String, String, String).self)
            addresses[key] = LinkAddress(domain: domain, code: code)
        }
        return addresses
    }
}

extension AsyncSequence {
    /// Every element, in order.
    func collect() async throws -> [Element] {
        var elements: [Element] = []
        for try await element in self { elements.append(element) }
        return elements
    }
}
