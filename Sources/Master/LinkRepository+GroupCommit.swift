import Foundation
import PostgresNIO
import SharedService

/// The writing side of the group commit of `POST /create` (see ``CreateGroupCommit``).
extension LinkRepository {
    /// One create of a group.
    struct GroupedCreate: Sendable {
        let link: NewLink
        let idempotency: IdempotencyKey?
    }

    /// Creates the links of concurrent creates together, one statement a round for all of them
    /// (``insertRounds(_:running:)``), and gives each create exactly its own outcome: its code,
    /// `409` for its taken alias, its idempotent replay or `422`, a fresh code after a collision
    /// of a generated one, or the error of a failed statement. One create's problem never fails
    /// the others; a link is written with its outbox row and key in one statement, or not at all.
    /// Its statements run on `writer`'s connection (only a create that must be retried alone,
    /// after another writer stored its idempotency key meanwhile, runs on the pool).
    func createGroup(_ creates: [GroupedCreate], on writer: WriterConnection) async -> [Result<Creation, any Error>] {
        var results = [Result<Creation, any Error>?](repeating: nil, count: creates.count)
        // The first create of an idempotency key writes; a later one of the same key in the group
        // gets the first one's outcome (the same request) or 422 (another request).
        var firstOfKey: [KeyID: Int] = [:]
        var followers: [(index: Int, leader: Int)] = []
        for (index, create) in creates.enumerated() {
            guard let key = create.idempotency else { continue }
            let id = KeyID(scope: key.scope, key: key.key)
            if let leader = firstOfKey[id] {
                followers.append((index, leader))
            } else {
                firstOfKey[id] = index
            }
        }
        do {
            let earlier = try await storedKeys(Array(firstOfKey.keys), on: writer)
            for (id, index) in firstOfKey {
                guard let (hash, code) = earlier[id] else { continue }
                results[index] =
                    creates[index].idempotency?.requestHash == hash
                    ? .success(Creation(code: code, replayed: true)) : .failure(APIError.idempotencyKeyReused)
            }
        } catch {
            return creates.map { _ in .failure(error) }
        }
        let following = Set(followers.map(\.index))
        let writing = creates.indices.filter { results[$0] == nil && !following.contains($0) }
        let items = writing.map { BatchItem(link: creates[$0].link, idempotency: creates[$0].idempotency) }
        let (outcomes, error) = await insertRounds(
            items,
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
        for (index, outcome) in zip(writing, outcomes) {
            switch outcome {
            case .created(let code), .alreadyImported(let code):
                results[index] = .success(Creation(code: code, replayed: false))
            case .aliasTaken: results[index] = .failure(APIError.aliasTaken(creates[index].link.alias ?? ""))
            case .noFreeCode: results[index] = .failure(APIError.noFreeCode)
            case nil:
                break
            }
        }
        if let error {
            for index in writing where results[index] == nil {
                if error.isUniqueViolation {
                    // Another writer stored one of the keys since they were looked up: each
                    // create on its own, as without grouping, finds out which.
                    results[index] = await Result(catching: {
                        try await create(creates[index].link, idempotency: creates[index].idempotency)
                    })
                } else {
                    results[index] = .failure(error)
                }
            }
        }
        for (index, leader) in followers {
            guard creates[index].idempotency?.requestHash == creates[leader].idempotency?.requestHash else {
                results[index] = .failure(APIError.idempotencyKeyReused)
                continue
            }
            results[index] = results[leader].map { result in
                result.map { Creation(code: $0.code, replayed: true) }
            }
        }
        return results.map { $0! }
    }

    /// An idempotency key's identity.
    private struct KeyID: Hashable {
        let scope: String
        let key: String
    }

    /// The request hash and code stored for each of `keys` that has been used.
    private func storedKeys(_ keys: [KeyID], on writer: WriterConnection) async throws
        -> [KeyID: (hash: [UInt8], code: String)]
    {
        guard !keys.isEmpty else { return [:] }
        return try await writer.run(through: breaker) { [logger] connection in
            let rows = try await connection.query(
                """
                SELECT k.scope, k.key, k.request_hash, k.code FROM idempotency_keys k
                JOIN unnest(\(keys.map(\.scope))::text[], \(keys.map(\.key))::text[]) AS wanted(scope, key)
                    ON k.scope = wanted.scope AND k.key = wanted.key
                """, logger: logger)
            var stored: [KeyID: (hash: [UInt8], code: String)] = [:]
            for try await (scope, key, hash, code) in rows.decode((String, String, ByteBuffer, String).self) {
                stored[KeyID(scope: scope, key: key)] = (Array(buffer: hash), code)
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
