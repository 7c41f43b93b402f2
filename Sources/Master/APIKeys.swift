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

/// The API keys of the write endpoints in Postgres. Only the SHA-256 of a secret is stored; the
/// secret itself is shown once, when the key is created.
struct APIKeyStore: Sendable {
    let client: PostgresClient
    let breaker: CircuitBreaker
    let logger: Logger

    /// A key as created: its public id and its secret (`sk_…`), which is not stored.
    struct CreatedKey: Sendable {
        let id: String
        let name: String
        let secret: String
    }

    /// A key as listed: never its secret.
    struct Listing: Sendable, Encodable {
        let id: String
        let name: String
        let createdAt: Date
        let revokedAt: Date?
    }

    /// SHA-256 of a secret, as stored.
    static func hash(_ secret: String) -> [UInt8] { Array(SHA256.hash(data: Data(secret.utf8))) }

    /// Creates a key; with `replacing`, the other active keys of the same name are revoked in
    /// the same transaction (`make run` does this at every start).
    func create(name: String, replacing: Bool = false) async throws -> CreatedKey {
        let key = CreatedKey(
            id: "key_" + ShortCode.random(length: 8), name: name, secret: "sk_" + ShortCode.random(length: 32))
        let hash = ByteBuffer(bytes: Self.hash(key.secret))
        try await breaker.run { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                if replacing {
                    try await connection.query(
                        "UPDATE api_keys SET revoked_at = now() WHERE name = \(name) AND revoked_at IS NULL",
                        logger: logger)
                }
                try await connection.query(
                    "INSERT INTO api_keys (id, name, secret_hash) VALUES (\(key.id), \(name), \(hash))", logger: logger)
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
            let rows = try await client.query(
                """
                WITH inserted AS (
                    INSERT INTO api_keys (id, name, secret_hash) VALUES (\(id), \(name), \(hash))
                    ON CONFLICT (secret_hash) DO NOTHING RETURNING id)
                SELECT id, true, true FROM inserted
                UNION ALL SELECT id, false, revoked_at IS NULL FROM api_keys WHERE secret_hash = \(hash)
                """, logger: logger)
            for try await (id, created, active) in rows.decode((String, Bool, Bool).self) {
                guard active else {
                    throw SettingError("the key with this secret (\(id)) was revoked; use a new secret")
                }
                return (id, created)
            }
            throw SettingError("the key was neither stored nor found")
        }
    }

    /// Every key, newest first.
    func list() async throws -> [Listing] {
        try await breaker.run { [client, logger] in
            let rows = try await client.query(
                "SELECT id, name, created_at, revoked_at FROM api_keys ORDER BY created_at DESC", logger: logger)
            var keys: [Listing] = []
            for try await (id, name, createdAt, revokedAt) in rows.decode((String, String, Date, Date?).self) {
                keys.append(Listing(id: id, name: name, createdAt: createdAt, revokedAt: revokedAt))
            }
            return keys
        }
    }

    /// Revokes a key; false when no active key has this id.
    func revoke(id: String) async throws -> Bool {
        try await breaker.run { [client, logger] in
            let rows = try await client.query(
                "UPDATE api_keys SET revoked_at = now() WHERE id = \(id) AND revoked_at IS NULL RETURNING id",
                logger: logger)
            for try await _ in rows.decode(String.self) { return true }
            return false
        }
    }

    /// The keys that open the write endpoints.
    struct ActiveKeys: Sendable {
        /// Hash → id of every key that is not revoked.
        var byHash: [[UInt8]: String] = [:]
        /// Whether any key was ever created: from then on a valid key is required, even when
        /// every key has been revoked.
        var required = false
    }

    /// The active keys, and whether keys are required at all.
    func activeKeys() async throws -> ActiveKeys {
        try await breaker.run { [client, logger] in
            let rows = try await client.query(
                "SELECT secret_hash, id, revoked_at IS NULL FROM api_keys", logger: logger)
            var keys = ActiveKeys()
            for try await (hash, id, active) in rows.decode((ByteBuffer, String, Bool).self) {
                keys.required = true
                if active { keys.byHash[Array(buffer: hash)] = id }
            }
            return keys
        }
    }
}

/// Checks `Authorization: Bearer <secret>` on `POST /create` and every `/api/` endpoint, reads
/// included. Until the first key is created, every caller is let in (a fresh install works
/// without set-up); from then on a valid key is required, even after every key was revoked. The active keys are cached and reloaded every ``refreshInterval``, so a revoked
/// key stops working within that time, and a missing key is looked up again at most once a second.
final class APIKeyGuard: Sendable {
    /// Who is calling.
    enum Caller: Equatable {
        /// No key was needed (none is configured).
        case anonymous
        /// The caller showed the key with this id.
        case key(String)
    }

    private struct Cache {
        var keys = APIKeyStore.ActiveKeys()
        var loaded: ContinuousClock.Instant?
    }

    private let store: APIKeyStore
    /// Time a loaded key list is trusted. Default: 5 s.
    let refreshInterval: Duration
    private let cache = NIOLockedValueBox(Cache())

    init(store: APIKeyStore, refreshInterval: Duration = .seconds(5)) {
        self.store = store
        self.refreshInterval = refreshInterval
    }

    /// The caller behind `authorization` (the header's value), or a 401 ``APIError`` (a 503
    /// one when the keys cannot be loaded).
    func authenticate(_ authorization: String?) async throws(APIError) -> Caller {
        var keys = try await currentKeys(maximumAge: refreshInterval)
        guard keys.required else { return .anonymous }
        guard let authorization, authorization.hasPrefix("Bearer ") else {
            throw Self.unauthorized("this endpoint needs 'Authorization: Bearer <API key>'")
        }
        let hash = APIKeyStore.hash(
            String(authorization.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces))
        if keys.byHash[hash] == nil { keys = try await currentKeys(maximumAge: .seconds(1)) }
        guard let id = keys.byHash[hash] else {
            throw Self.unauthorized("the API key is not valid (unknown or revoked)")
        }
        return .key(id)
    }

    private func currentKeys(maximumAge: Duration) async throws(APIError) -> APIKeyStore.ActiveKeys {
        let cached = cache.withLockedValue { $0 }
        if let loaded = cached.loaded, ContinuousClock.now - loaded < maximumAge { return cached.keys }
        do {
            let keys = try await store.activeKeys()
            cache.withLockedValue { $0 = Cache(keys: keys, loaded: .now) }
            return keys
        } catch {
            // A stale list is better than refusing every write while Postgres blips.
            guard cached.loaded != nil else {
                if let open = error as? CircuitOpenError { throw APIError.unavailable(open) }
                store.logger.error("Loading API keys failed", metadata: ["error": "\(String(reflecting: error))"])
                throw APIError.unavailable("the key store is unavailable; try again")
            }
            store.logger.warning("Reloading API keys failed; using the last list", metadata: ["error": "\(error)"])
            return cached.keys
        }
    }

    private static func unauthorized(_ message: String) -> APIError {
        var error = APIError(.unauthorized, "unauthorized", message)
        error.headers[.wwwAuthenticate] = "Bearer"
        return error
    }
}

/// `master keys create|list|revoke`: API keys for the write endpoints.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list or revoke the API keys of the write endpoints (POST /create, DELETE).",
        subcommands: [Create.self, List.self, Revoke.self])

    /// Runs `work` with a key store on the configured database.
    static func withStore<Value: Sendable>(
        common: CommonOptions, postgres: PostgresOptions, _ work: @Sendable (APIKeyStore) async throws -> Value
    ) async throws -> Value {
        let logger = try Observability.bootstrap(service: "keys", options: common)
        let namespace = try common.resolvedNamespace()
        return try await PostgresClient.withRunning(
            try postgres.clientConfiguration(namespace: namespace), logger: logger
        ) { client in
            try await work(APIKeyStore(client: client, breaker: .postgres(logger: logger), logger: logger))
        }
    }

    /// `master keys create`
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key and print its secret (shown only now; only its hash is stored).")

        @OptionGroup var common: CommonOptions
        @OptionGroup var postgres: PostgresOptions

        /// What the key is for, shown in `keys list`.
        @Option(help: "What the key is for, shown in 'keys list'.") var name: String

        /// Revoke the other active keys of this name.
        @Flag(help: "Revoke the other active keys with this name.") var replace = false

        /// Print only the secret (for scripts).
        @Flag(help: "Print only the secret.") var quiet = false

        /// Environment variable holding the key's secret, chosen outside (a deployment's
        /// generated `.env`), instead of a generated one; a key with that secret already there is
        /// kept, so a deployment runs this at every start. Its secret is never printed.
        @Option(help: "Environment variable with the secret to register (kept if already there; never printed).")
        var secretEnv: String?

        func run() async throws {
            let (name, replace) = (self.name, self.replace)
            if let secretEnv {
                guard let secret = EnvironmentDefaults.optionalString(secretEnv) else {
                    throw ValidationError("the environment variable \(secretEnv) is not set")
                }
                let (id, created) = try await Keys.withStore(common: common, postgres: postgres) {
                    try await $0.register(name: name, secret: secret)
                }
                print(
                    created
                        ? "Registered API key \(id) (\(name)) from \(secretEnv)."
                        : "API key \(id) from \(secretEnv) is there already.")
                return
            }
            let key = try await Keys.withStore(common: common, postgres: postgres) {
                try await $0.create(name: name, replacing: replace)
            }
            if quiet {
                print(key.secret)
            } else {
                print("Created API key \(key.id) (\(key.name)). Its secret, shown only now:\n\n    \(key.secret)\n")
                print("Send it as: Authorization: Bearer \(key.secret)")
            }
        }
    }

    /// `master keys list`
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the keys (never their secrets).")

        @OptionGroup var common: CommonOptions
        @OptionGroup var postgres: PostgresOptions

        func run() async throws {
            let keys = try await Keys.withStore(common: common, postgres: postgres) { try await $0.list() }
            print(
                TextTable(
                    headers: ["id", "name", "created", "revoked"],
                    rows: keys.map {
                        [$0.id, $0.name, RFC3339.format($0.createdAt), $0.revokedAt.map(RFC3339.format) ?? "-"]
                    }
                ).rendered)
        }
    }

    /// `master keys revoke`
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a key: it stops working within 5 seconds on every master.")

        @OptionGroup var common: CommonOptions
        @OptionGroup var postgres: PostgresOptions

        @Argument(help: "The key's id (key_…), as 'keys list' shows it.") var id: String

        func run() async throws {
            let id = self.id
            guard try await Keys.withStore(common: common, postgres: postgres, { try await $0.revoke(id: id) }) else {
                throw ValidationError("no active key has the id '\(id)'")
            }
            print("Revoked \(id).")
        }
    }
}
