import Foundation
import PostgresNIO
import SharedService
import SharedLinks

/// The writing side of the group commit of `POST /create` (see ``CreateGroupCommit``).
extension PostgresLinkRepository {
    /// One create of a group.
    struct GroupedCreate: Sendable {
        let link: NewLink
        let idempotency: IdempotencyKey?
    }

    /// Creates the links of concurrent creates together and gives each create exactly its own
    /// outcome (``CreateGroupPlan``): its code, `409` for its taken alias, its idempotent replay
    /// or `422`, a fresh code after a collision of a generated one, or the error of a failed
    /// statement. One create's problem never fails the others; a link is written with its outbox
    /// row and key in one ``CreateStatement``, or not at all. The statements run on `writer`'s
    /// connection (only a create that must be retried alone, after another writer stored its
    /// idempotency key meanwhile, runs on the pool).
    func createGroup(_ creates: [GroupedCreate], on writer: WriterConnection) async -> [Result<LinkCreation, any Error>]
    {
        var plan = CreateGroupPlan(keys: creates.map(\.idempotency))
        do {
            plan.resolve(stored: try await storedKeys(plan.keysToLookUp, on: writer))
        } catch {
            return creates.map { _ in .failure(error) }
        }
        let writing = plan.writing
        let rounds = await insertRounds(
            writing.map { LinkBatchItem(link: creates[$0].link, idempotency: creates[$0].idempotency) },
            running: BatchRunner(
                query: { [breaker, logger] query in
                    try await writer.run(through: breaker) { connection in
                        try await connection.query(query, logger: logger).collect()
                    }
                },
                insertRound: { [breaker, logger] round in
                    try await writer.run(through: breaker) { connection in
                        try await connection.execute(round, logger: logger).collect()
                    }
                }))
        var written: [Result<LinkCreation, any Error>] = []
        for (index, round) in zip(writing, rounds) {
            let create = creates[index]
            switch round {
            case .success(.created(let address)), .success(.alreadyImported(let address)):
                written.append(.success(LinkCreation(address: address, replayed: false)))
            case .success(.aliasTaken): written.append(.failure(APIError.aliasTaken(create.link.alias ?? "")))
            case .success(.noFreeCode): written.append(.failure(APIError.noFreeCode))
            case .failure(let error) where error.isUniqueViolation:
                // Another writer stored one of the keys since they were looked up: each create
                // on its own, as without grouping, finds out which.
                written.append(
                    await Result(catching: { try await self.create(create.link, idempotency: create.idempotency) }))
            case .failure(let error): written.append(.failure(error))
            }
        }
        return plan.outcomes(written: written)
    }

    /// The request hash and link stored for each of `keys` that has been used.
    private func storedKeys(_ keys: [IdempotencyKey.ID], on writer: WriterConnection) async throws
        -> [IdempotencyKey.ID: (requestHash: [UInt8], address: LinkAddress)]
    {
        guard !keys.isEmpty else { return [:] }
        return try await writer.run(through: breaker) { [logger] connection in
            let rows = try await connection.query(
                """
                SELECT k.scope, k.key, k.request_hash, k.link_key FROM idempotency_keys k
                JOIN unnest(\(keys.map(\.scope))::text[], \(keys.map(\.key))::text[]) AS wanted(scope, key)
                    ON k.scope = wanted.scope AND k.key = wanted.key
                """, logger: logger)
            var stored: [IdempotencyKey.ID: (requestHash: [UInt8], address: LinkAddress)] = [:]
            for try await (scope, key, hash, linkKey) in rows.decode((String, String, ByteBuffer, String).self) {
                guard let address = LinkAddress(key: linkKey) else { continue }
                stored[IdempotencyKey.ID(scope: scope, key: key)] = (Array(buffer: hash), address)
            }
            return stored
        }
    }
}

extension Result where Failure == any Error {
    /// The outcome of `body`.
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
