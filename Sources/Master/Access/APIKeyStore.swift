import ArgumentParser
import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import SharedConfiguration
import SharedEvents
import SharedLinks
import SharedPostgres
import SharedResilience
import SharedService

/// A key as the API sees it: who calls, with which role, until when. Never its secret.
struct APIKeyIdentity: Sendable, Hashable {
    let id: String
    let name: String
    let role: AccessRole
    /// When the key stops working; nil: never.
    var expiresAt: Date? = nil
    /// It sees only links carrying one of these tags, and what it creates gets them; empty: any.
    var tags: [String] = []
    /// It sees only links on these domains (stored names, `""` the default); empty: any.
    var domains: [String] = []
    /// Its own creates a second (0: unlimited); nil: the master's default.
    var createRateLimit: Double? = nil
    /// Its own create burst; nil: the master's default.
    var createBurst: Int? = nil
}

/// What a key is limited to beyond its role: links carrying one of `tags`, links on
/// `domains` (stored names, `""` the default), and its own create rate limit. Empty lists and
/// nil limits limit nothing beyond the defaults.
struct KeyLimits: Sendable, Equatable {
    var tags: [String] = []
    var domains: [String] = []
    /// Creates a second (0: unlimited); nil: the master's default.
    var createRateLimit: Double?
    /// Creates at once after being idle; nil: the master's default.
    var createBurst: Int?
}

/// The API keys in Postgres. Only the SHA-256 of a secret is stored; the
/// secret itself is shown once, when the key is created.
struct APIKeyStore: Sendable {
    let client: PostgresClient
    let breaker: CircuitBreaker
    let logger: Logger

    /// A key as created: its public id and its secret (`sk_…`), which is not stored.
    struct CreatedKey: Sendable {
        let id: String
        let name: String
        let role: AccessRole
        let secret: String
    }

    /// A key as listed: never its secret.
    struct Listing: Sendable, Equatable {
        let id: String
        let name: String
        let role: AccessRole
        let createdAt: Date
        let expiresAt: Date?
        let revokedAt: Date?
        /// The latest use written (at most a minute behind).
        var lastUsedAt: Date? = nil
        /// The tags it is limited to; empty: none.
        var tags: [String] = []
        /// The domains it is limited to (stored names); empty: none.
        var domains: [String] = []
        /// Its own creates a second; nil: the default.
        var createRateLimit: Double? = nil
        /// Its own create burst; nil: the default.
        var createBurst: Int? = nil
    }

    /// SHA-256 of a secret, as stored.
    static func hash(_ secret: String) -> [UInt8] { Array(SHA256.hash(data: Data(secret.utf8))) }

    /// Creates a key; with `replacing`, the other active keys of the same name are revoked in
    /// the same transaction (`make run` does this at every start).
    func create(
        name: String, role: AccessRole = .admin, expiresAt: Date? = nil, limits: KeyLimits = KeyLimits(),
        replacing: Bool = false
    ) async throws -> CreatedKey {
        let key = CreatedKey(
            id: "key_" + ShortCode.random(length: 8), name: name, role: role,
            secret: "sk_" + ShortCode.random(length: 32))
        let hash = ByteBuffer(bytes: Self.hash(key.secret))
        try await breaker.run { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                var audits: [OutboxRow] = []
                if replacing {
                    let revoked = try await connection.query(
                        "UPDATE api_keys SET revoked_at = now() WHERE name = \(name) AND revoked_at IS NULL RETURNING id",
                        logger: logger)
                    for try await id in revoked.decode(String.self) {
                        audits.append(OutboxRow(ChangeOrigin.current.audit(.keyRevoked, id)))
                    }
                }
                try await connection.query(
                    """
                    INSERT INTO api_keys (
                        id, name, secret_hash, role, expires_at, tags, domains, create_rate_limit, create_burst)
                    VALUES (
                        \(key.id), \(name), \(hash), \(role.rawValue), \(expiresAt), \(limits.tags), \(limits.domains),
                        \(limits.createRateLimit), \(limits.createBurst.map(Int32.init)))
                    """, logger: logger)
                audits.append(OutboxRow(ChangeOrigin.current.audit(.keyCreated, key.id)))
                try await OutboxWriter.append(audits, on: connection, logger: logger)
            }
        }
        return key
    }

    /// Shortest secret ``register(name:secret:)`` takes: as hard to guess as a generated one.
    static let minimumSecretLength = 32

    /// Registers a key whose secret was chosen outside (a deployment's generated `.env`): a key
    /// with that secret already there is kept, so a deployment can run this at every start.
    /// Returns its id and whether it is new; refuses a short secret or one that was revoked.
    func register(name: String, secret: String) async throws -> (id: String, created: Bool) {
        guard secret.utf8.count >= Self.minimumSecretLength, secret.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw SettingError(
                "an API key's secret must be at least \(Self.minimumSecretLength) visible ASCII characters")
        }
        let id = "key_" + ShortCode.random(length: 8)
        let hash = ByteBuffer(bytes: Self.hash(secret))
        return try await breaker.run { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    WITH inserted AS (
                        INSERT INTO api_keys (id, name, secret_hash) VALUES (\(id), \(name), \(hash))
                        ON CONFLICT (secret_hash) DO NOTHING RETURNING id)
                    SELECT id, true, true FROM inserted
                    UNION ALL SELECT id, false, revoked_at IS NULL FROM api_keys WHERE secret_hash = \(hash)
                    """, logger: logger)
                var found: (id: String, created: Bool, active: Bool)?
                for try await row in rows.decode((String, Bool, Bool).self) where found == nil { found = row }
                guard let found else { throw SettingError("the key was neither stored nor found") }
                guard found.active else {
                    throw SettingError("the key with this secret (\(found.id)) was revoked; use a new secret")
                }
                if found.created {
                    try await OutboxWriter.append(
                        [OutboxRow(ChangeOrigin.current.audit(.keyCreated, found.id))], on: connection, logger: logger)
                }
                return (found.id, found.created)
            }
        }
    }

    /// Every key, newest first.
    func list() async throws -> [Listing] {
        try await breaker.run { [client, logger] in
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.listingColumns) FROM api_keys ORDER BY created_at DESC
                """, logger: logger)
            var keys: [Listing] = []
            for try await row in rows.decode(ListingRow.self) { keys.append(Self.listing(row)) }
            return keys
        }
    }

    /// Changes a key's name, role, expiry (`.clear`: never expires) or limits; nil when no
    /// active key has this id. The secret stays.
    func update(
        id: String, name: String?, role: AccessRole?, expiresAt: FieldChange<Date>, tags: [String]? = nil,
        domains: [String]? = nil, createRateLimit: FieldChange<Double> = .keep, createBurst: FieldChange<Int> = .keep
    ) async throws -> Listing? {
        let keepsExpiry = expiresAt == .keep
        let (keepsRate, keepsBurst) = (createRateLimit == .keep, createBurst == .keep)
        return try await breaker.run { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    UPDATE api_keys SET name = coalesce(\(name), name), role = coalesce(\(role?.rawValue), role),
                        expires_at = CASE WHEN \(keepsExpiry) THEN expires_at ELSE \(expiresAt.newValue) END,
                        tags = coalesce(\(tags)::text[], tags), domains = coalesce(\(domains)::text[], domains),
                        create_rate_limit = CASE WHEN \(keepsRate) THEN create_rate_limit
                            ELSE \(createRateLimit.newValue) END,
                        create_burst = CASE WHEN \(keepsBurst) THEN create_burst
                            ELSE \(createBurst.newValue.map(Int32.init)) END
                    WHERE id = \(id) AND revoked_at IS NULL
                    RETURNING \(unescaped: Self.listingColumns)
                    """, logger: logger)
                var changed: Listing?
                for try await row in rows.decode(ListingRow.self) { changed = Self.listing(row) }
                guard let changed else { return nil }
                try await OutboxWriter.append(
                    [OutboxRow(ChangeOrigin.current.audit(.keyUpdated, id))], on: connection, logger: logger)
                return changed
            }
        }
    }

    /// The columns of a ``Listing``.
    private static let listingColumns =
        "id, name, role, created_at, expires_at, revoked_at, last_used_at, tags, domains, create_rate_limit, create_burst"
    private typealias ListingRow = (
        String, String, String, Date, Date?, Date?, Date?, [String], [String], Double?, Int32?
    )

    /// A listing from its ``listingColumns``.
    private static func listing(_ row: ListingRow) -> Listing {
        Listing(
            id: row.0, name: row.1, role: AccessRole(rawValue: row.2) ?? .viewer, createdAt: row.3, expiresAt: row.4,
            revokedAt: row.5, lastUsedAt: row.6, tags: row.7, domains: row.8, createRateLimit: row.9,
            createBurst: row.10.map(Int.init))
    }

    /// Revokes a key; false when no active key has this id.
    func revoke(id: String) async throws -> Bool {
        try await breaker.run { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query(
                    "UPDATE api_keys SET revoked_at = now() WHERE id = \(id) AND revoked_at IS NULL RETURNING id",
                    logger: logger)
                var revoked = false
                for try await _ in rows.decode(String.self) { revoked = true }
                guard revoked else { return false }
                try await OutboxWriter.append(
                    [OutboxRow(ChangeOrigin.current.audit(.keyRevoked, id))], on: connection, logger: logger)
                return true
            }
        }
    }

    /// The keys that open the API.
    struct ActiveKeys: Sendable {
        /// Hash → key, of every key that is not revoked (expired ones included: their callers
        /// are told so).
        var byHash: [[UInt8]: APIKeyIdentity] = [:]
        /// Whether any key was ever created: from then on a valid key is required, even when
        /// every key has been revoked.
        var required = false
    }

    /// The active keys, and whether keys are required at all.
    func activeKeys() async throws -> ActiveKeys {
        try await breaker.run { [client, logger] in
            let rows = try await client.query(
                """
                SELECT secret_hash, id, name, role, expires_at, revoked_at IS NULL, tags, domains, create_rate_limit,
                    create_burst
                FROM api_keys
                """, logger: logger)
            var keys = ActiveKeys()
            for try await (hash, id, name, role, expiresAt, active, tags, domains, rate, burst) in rows.decode(
                (ByteBuffer, String, String, String, Date?, Bool, [String], [String], Double?, Int32?).self)
            {
                keys.required = true
                // A role this master does not know (a newer one wrote it) gets the least rights.
                if active {
                    keys.byHash[Array(buffer: hash)] = APIKeyIdentity(
                        id: id, name: name, role: AccessRole(rawValue: role) ?? .viewer, expiresAt: expiresAt,
                        tags: tags, domains: domains, createRateLimit: rate, createBurst: burst.map(Int.init))
                }
            }
            return keys
        }
    }
}
