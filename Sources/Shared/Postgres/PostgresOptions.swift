import ArgumentParser
import Logging
import PostgresNIO
import SharedConfiguration
import SharedResilience

/// Where the Postgres server is and how to log in. The database is the namespace's.
public struct PostgresOptions: ParsableArguments, Sendable {
    /// Postgres host. Default: `127.0.0.1`. Environment: `SHORTENER_PG_HOST`.
    @Option(name: .customLong("pg-host"), help: "Postgres host (env SHORTENER_PG_HOST).")
    public var host: String = EnvironmentDefaults.string("SHORTENER_PG_HOST", "127.0.0.1")

    /// Postgres port. Default: 5432. Environment: `SHORTENER_PG_PORT`.
    @Option(name: .customLong("pg-port"), help: "Postgres port (env SHORTENER_PG_PORT).")
    public var port: Int = EnvironmentDefaults.int("SHORTENER_PG_PORT", 5432)

    /// Postgres user. Default: `postgres`. Environment: `SHORTENER_PG_USER`.
    @Option(name: .customLong("pg-user"), help: "Postgres user (env SHORTENER_PG_USER).")
    public var user: String = EnvironmentDefaults.string("SHORTENER_PG_USER", "postgres")

    /// Postgres password; none when empty. Default: none. Environment: `SHORTENER_PG_PASSWORD`.
    @Option(name: .customLong("pg-password"), help: "Postgres password (env SHORTENER_PG_PASSWORD).")
    public var password: String = EnvironmentDefaults.string("SHORTENER_PG_PASSWORD", "")

    /// Database name; the namespace when empty. Default: the namespace. Environment: `SHORTENER_PG_DATABASE`.
    @Option(
        name: .customLong("pg-database"), help: "Database name; the namespace when empty (env SHORTENER_PG_DATABASE).")
    public var database: String = EnvironmentDefaults.string("SHORTENER_PG_DATABASE", "")

    /// Most connections in the service's pool (the master's create writer has one more of its
    /// own). Default: 20. Environment: `SHORTENER_PG_POOL`.
    @Option(name: .customLong("pg-pool"), help: "Most connections the service opens (env SHORTENER_PG_POOL).")
    public var poolSize: Int = EnvironmentDefaults.int("SHORTENER_PG_POOL", 20)

    /// TLS to Postgres, as libpq's `sslmode`: `disable`, `prefer` (TLS when the server offers it,
    /// certificate unchecked), `require` (TLS, certificate unchecked), `verify-ca`, `verify-full`
    /// (TLS, certificate checked against `--pg-sslrootcert`, and for `verify-full` its host name).
    /// Default: `prefer`, as libpq. Environment: `SHORTENER_PG_SSLMODE`.
    @Option(
        name: .customLong("pg-sslmode"),
        help: "TLS to Postgres: disable, prefer, require, verify-ca, verify-full (env SHORTENER_PG_SSLMODE).")
    public var sslMode: String = EnvironmentDefaults.string("SHORTENER_PG_SSLMODE", PostgresTLS.Mode.prefer.rawValue)

    /// A PEM file of the certificates that sign the server's, for `verify-ca` and `verify-full`;
    /// the system's roots when empty. Default: none. Environment: `SHORTENER_PG_SSLROOTCERT`.
    @Option(
        name: .customLong("pg-sslrootcert"),
        help: "PEM root certificates for verify-ca/verify-full (env SHORTENER_PG_SSLROOTCERT).")
    public var sslRootCertificate: String = EnvironmentDefaults.string("SHORTENER_PG_SSLROOTCERT", "")

    /// Seconds one call to Postgres may take before it fails and counts against the breaker
    /// (batch commands and the click aggregator allow more of their own). Default: 2.
    /// Environment: `SHORTENER_PG_CALL_TIMEOUT`.
    @Option(
        name: .customLong("pg-call-timeout"),
        help: "Seconds a call to Postgres may take (env SHORTENER_PG_CALL_TIMEOUT).")
    public var callTimeout: Double = EnvironmentDefaults.double("SHORTENER_PG_CALL_TIMEOUT", 2)

    public init() {}

    /// The settings of a breaker in front of Postgres, with ``callTimeout`` (checked: 0.1 s to
    /// 5 minutes).
    public func breakerSettings() throws -> CircuitBreaker.Settings {
        guard (0.1...300).contains(callTimeout) else {
            throw SettingError("the Postgres call timeout (SHORTENER_PG_CALL_TIMEOUT) must be 0.1 to 300 seconds")
        }
        var settings = CircuitBreaker.Settings()
        settings.callTimeout = .milliseconds(Int64(callTimeout * 1000))
        return settings
    }

    /// Where `namespace`'s database (or `database` when set) is and how to reach it.
    public func endpoint(namespace: Namespace, database override: String? = nil) throws -> PostgresEndpoint {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: user, password: password.isEmpty ? nil : password,
            database: override ?? (database.isEmpty ? namespace.databaseName : database), tls: .disable
        )
        configuration.options.maximumConnections = poolSize
        configuration.options.minimumConnections = 1
        configuration.options.connectionIdleTimeout = .seconds(60)
        let tls = try PostgresTLS(
            mode: PostgresTLS.Mode(named: sslMode, for: "SHORTENER_PG_SSLMODE"),
            rootCertificate: sslRootCertificate.isEmpty ? nil : sslRootCertificate)
        return PostgresEndpoint(configuration, tls: tls)
    }

    /// The pool's configuration for `namespace`'s database (or `database` when set).
    public func clientConfiguration(namespace: Namespace, database override: String? = nil) throws
        -> PostgresClient.Configuration
    {
        try endpoint(namespace: namespace, database: override).client
    }
}

/// Where a Postgres database is and how to reach it, for a pool and for a connection of its own:
/// PostgresNIO keeps the two configurations (and their TLS settings) as separate types.
public struct PostgresEndpoint: Sendable {
    /// The pool's configuration, its TLS set from ``tls``.
    public private(set) var client: PostgresClient.Configuration
    /// TLS to the server.
    public let tls: PostgresTLS

    /// `client`'s server, login and database, reached with `tls` (whatever `client` said).
    public init(_ client: PostgresClient.Configuration, tls: PostgresTLS) {
        self.client = client
        self.client.tls = tls.forClient
        self.tls = tls
    }

    /// The same server, login, database and TLS for a connection of its own, outside the pool.
    public var singleConnection: PostgresConnection.Configuration {
        if let unixSocketPath = client.unixSocketPath {
            return .init(
                unixSocketPath: unixSocketPath, username: client.username, password: client.password,
                database: client.database)
        }
        return .init(
            host: client.host ?? "localhost", port: client.port ?? 5432, username: client.username,
            password: client.password, database: client.database, tls: tls.forConnection)
    }
}

extension PostgresClient {
    /// Runs `body` with a client that is running for exactly that long.
    @discardableResult
    public static func withRunning<Result: Sendable>(
        _ configuration: PostgresClient.Configuration, logger: Logger,
        _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            // The body waits until the client's task is about to call run(): a query leased
            // earlier works too, but PostgresNIO warns that run() has not been called yet.
            let (starting, started) = AsyncStream<Void>.makeStream()
            group.addTask {
                started.finish()
                await client.run()
            }
            defer { group.cancelAll() }
            for await _ in starting {}
            return try await body(client)
        }
    }
}
