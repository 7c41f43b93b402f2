import ArgumentParser
import Logging
import PostgresNIO
import SharedConfiguration

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

    public init() {}

    /// The client configuration for `namespace`'s database (or `database` when set).
    public func clientConfiguration(namespace: Namespace, database override: String? = nil)
        -> PostgresClient.Configuration
    {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: user, password: password.isEmpty ? nil : password,
            database: override ?? (database.isEmpty ? namespace.databaseName : database), tls: .disable
        )
        configuration.options.maximumConnections = poolSize
        configuration.options.minimumConnections = 1
        configuration.options.connectionIdleTimeout = .seconds(60)
        return configuration
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

extension PostgresClient.Configuration {
    /// The same server, login and database for a connection of its own, outside the pool (and,
    /// as every connection of the project, without TLS).
    public var singleConnection: PostgresConnection.Configuration {
        if let unixSocketPath {
            return .init(unixSocketPath: unixSocketPath, username: username, password: password, database: database)
        }
        return .init(
            host: host ?? "localhost", port: port ?? 5432, username: username, password: password, database: database,
            tls: .disable)
    }
}
