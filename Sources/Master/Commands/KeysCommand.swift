import ArgumentParser
import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import SharedConfiguration
import SharedEvents
import SharedJSON
import SharedLinks
import SharedPostgres
import SharedResilience
import SharedService

/// `master keys create|list|revoke`: API keys, each with a role (see ``AccessRole``).
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
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
            try await work(
                APIKeyStore(
                    client: client, breaker: .postgres(settings: try postgres.breakerSettings(), logger: logger),
                    logger: logger))
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

        /// What the key may do: `admin` (everything), `editor` (links and statistics), `creator`
        /// (creates links, reads its own) or `viewer` (reads only). Default: admin.
        @Option(
            help:
                "admin (everything), editor (links and statistics), creator (creates, reads its own) or viewer (reads only)."
        )
        var role: String = AccessRole.admin.rawValue

        /// Limits the key to links carrying one of these tags (repeat it); what it creates gets
        /// them all.
        @Option(name: .customLong("tag"), help: "Limit the key to links with this tag (repeatable).")
        var tags: [String] = []

        /// Limits the key to links on these short domains (repeat it), each added already; the
        /// default domain is named by `SHORTENER_PUBLIC_URL`'s host.
        @Option(
            name: .customLong("domain"),
            help:
                "Limit the key to links on this short domain (repeatable; added already; env SHORTENER_PUBLIC_URL names the default)."
        )
        var domains: [String] = []

        /// The key's own creates a second (0: unlimited); the master's default without it.
        @Option(help: "The key's own creates a second, 0 for unlimited (default: the master's limit).")
        var rateLimit: Double?

        /// The key's own create burst; the master's default without it.
        @Option(help: "The key's own create burst (default: the master's burst).")
        var burst: Int?

        /// When the key stops working, as RFC 3339; never without it.
        @Option(help: "When the key stops working (RFC 3339, in the future); never without it.")
        var expires: String?

        /// Revoke the other active keys of this name.
        @Flag(help: "Revoke the other active keys with this name.") var replace = false

        /// Print only the secret (for scripts).
        @Flag(help: "Print only the secret.") var quiet = false

        /// Environment variable holding the key's secret, chosen outside (a deployment's
        /// generated `.env`), instead of a generated one; a key with that secret already there is
        /// kept, so a deployment runs this at every start. Its secret is never printed.
        @Option(help: "Environment variable with the secret to register (kept if already there; never printed).")
        var secretEnv: String?

        func validate() throws {
            do {
                _ = try AccessRole.parse(role)
            } catch {
                throw ValidationError(error.description)
            }
            if let expires {
                guard let instant = try? RFC3339.parse(expires), instant > Date() else {
                    throw ValidationError("--expires must be an RFC 3339 time in the future, like 2027-01-31T00:00:00Z")
                }
            }
            if let problem = LinkTags.problem(with: tags) { throw ValidationError("--tag: \(problem)") }
            if let rateLimit, !(0...100_000).contains(rateLimit) {
                throw ValidationError("--rate-limit must be 0 (unlimited) to 100000 creates a second")
            }
            if let burst, !(1...100_000).contains(burst) { throw ValidationError("--burst must be 1 to 100000") }
            if domains.count > ShortDomains.maximumKeyDomains {
                throw ValidationError("--domain: a key is limited to at most \(ShortDomains.maximumKeyDomains) domains")
            }
            if secretEnv != nil,
                role != AccessRole.admin.rawValue || expires != nil || !tags.isEmpty || !domains.isEmpty
                    || rateLimit != nil || burst != nil
            {
                throw ValidationError(
                    "--secret-env registers a deployment's admin key; it takes no --role, --expires, --tag, --domain or limits"
                )
            }
        }

        func run() async throws {
            let (name, replace, hosts, limits) = (
                self.name, self.replace, domains, KeyLimits(tags: tags, createRateLimit: rateLimit, createBurst: burst)
            )
            let role = try AccessRole.parse(self.role)
            let expiresAt = try expires.map(RFC3339.parse)
            if let secretEnv {
                guard let secret = EnvironmentDefaults.optionalString(secretEnv) else {
                    throw ValidationError("the environment variable \(secretEnv) is not set")
                }
                let (id, created) = try await KeysCommand.withStore(common: common, postgres: postgres) {
                    try await $0.register(name: name, secret: secret)
                }
                print(
                    created
                        ? "Registered API key \(id) (\(name)) from \(secretEnv)."
                        : "API key \(id) from \(secretEnv) is there already.")
                return
            }
            let key = try await KeysCommand.withStore(common: common, postgres: postgres) { store in
                var limits = limits
                let shortDomains = ShortDomains(
                    publicBaseURL: ShortDomains.configuredPublicBaseURL,
                    repository: PostgresDomainRepository(
                        client: store.client, breaker: store.breaker, logger: store.logger))
                do {
                    limits.domains = try await shortDomains.storedNames(ofKeyDomains: hosts)
                } catch let error as APIError {
                    throw ValidationError("--domain: \(error.message)")
                }
                return try await store.create(
                    name: name, role: role, expiresAt: expiresAt, limits: limits, replacing: replace)
            }
            if quiet {
                print(key.secret)
            } else {
                print(
                    "Created \(key.role.rawValue) API key \(key.id) (\(key.name)). Its secret, shown only now:\n\n    \(key.secret)\n"
                )
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
            let keys = try await KeysCommand.withStore(common: common, postgres: postgres) { try await $0.list() }
            print(
                TextTable(
                    headers: [
                        "id", "name", "role", "tags", "domains", "creates/s", "created", "expires", "revoked",
                        "last used",
                    ],
                    rows: keys.map {
                        [
                            $0.id, $0.name, $0.role.rawValue, $0.tags.isEmpty ? "-" : $0.tags.joined(separator: ","),
                            $0.domains.isEmpty
                                ? "-" : $0.domains.map { $0.isEmpty ? "(default)" : $0 }.joined(separator: ","),
                            Self.limit($0),
                            RFC3339.format($0.createdAt),
                            $0.expiresAt.map(RFC3339.format) ?? "-", $0.revokedAt.map(RFC3339.format) ?? "-",
                            $0.lastUsedAt.map(RFC3339.format) ?? "-",
                        ]
                    }
                ).rendered)
        }

        /// A key's own create limit, or `-` for the default.
        static func limit(_ key: APIKeyStore.Listing) -> String {
            guard key.createRateLimit != nil || key.createBurst != nil else { return "-" }
            let rate = key.createRateLimit.map { $0 == 0 ? "unlimited" : "\($0)" } ?? "default"
            return "\(rate), burst \(key.createBurst.map(String.init) ?? "default")"
        }
    }

    /// `master keys revoke`
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a key: every master refuses it at once.")

        @OptionGroup var common: CommonOptions
        @OptionGroup var postgres: PostgresOptions

        @Argument(help: "The key's id (key_…), as 'keys list' shows it.") var id: String

        func run() async throws {
            let id = self.id
            guard try await KeysCommand.withStore(common: common, postgres: postgres, { try await $0.revoke(id: id) })
            else {
                throw ValidationError("no active key has the id '\(id)'")
            }
            print("Revoked \(id).")
        }
    }
}
