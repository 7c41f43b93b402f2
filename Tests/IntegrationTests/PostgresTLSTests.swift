import Foundation
import PostgresNIO
import SharedConfiguration
import SharedPostgres
import SharedService
import TestSupport
import Testing
@testable import Master

/// TLS to Postgres as `--pg-sslmode` sets it, against the test Postgres, which offers TLS with a
/// certificate for 127.0.0.1 and localhost signed by a CA of its own.
@Suite struct PostgresTLSTests {
    /// The settings a service parses from `arguments`, on the test Postgres.
    private func options(_ arguments: [String], host: String = "127.0.0.1") throws -> PostgresOptions {
        try PostgresOptions.parse(["--pg-host", host, "--pg-port", String(TestStack.postgresPort)] + arguments)
    }

    private var rootCertificate: String { get throws { try TestStack.environment("SHORTENER_TEST_PG_ROOT_CERT") } }

    /// Any namespace: the endpoints here name the `postgres` database.
    private var namespace: Namespace { get throws { try Namespace("shortener") } }

    /// Whether a pooled connection of `endpoint` runs over TLS.
    private func pooledConnectionUsesTLS(_ endpoint: PostgresEndpoint) async throws -> Bool {
        var client = endpoint.client
        client.options.connectTimeout = .seconds(3)
        return try await PostgresClient.withRunning(client, logger: TestStack.logger) { client in
            let rows = try await client.query(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", logger: TestStack.logger)
            for try await ssl in rows.decode(Bool.self) { return ssl }
            return false
        }
    }

    @Test func eachModeConnectsAsLibpqWould() async throws {
        let namespace = try namespace
        #expect(
            try await pooledConnectionUsesTLS(
                options(["--pg-sslmode", "disable"]).endpoint(namespace: namespace, database: "postgres")) == false)
        #expect(try await pooledConnectionUsesTLS(options([]).endpoint(namespace: namespace, database: "postgres")))
        #expect(
            try await pooledConnectionUsesTLS(
                options(["--pg-sslmode", "require"]).endpoint(namespace: namespace, database: "postgres")))
        let root = try rootCertificate
        #expect(
            try await pooledConnectionUsesTLS(
                options(["--pg-sslmode", "verify-ca", "--pg-sslrootcert", root]).endpoint(
                    namespace: namespace, database: "postgres")))
        for host in ["127.0.0.1", "localhost"] {
            #expect(
                try await pooledConnectionUsesTLS(
                    options(["--pg-sslmode", "verify-full", "--pg-sslrootcert", root], host: host).endpoint(
                        namespace: namespace, database: "postgres")))
        }
    }

    @Test func anUncheckedCertificateIsRefused() async throws {
        // The test CA is not among the system's roots. A single connection, as the create
        // writer's: the pool would retry for as long as the query waits.
        let endpoint = try options(["--pg-sslmode", "verify-full"]).endpoint(namespace: namespace, database: "postgres")
        await #expect(throws: (any Error).self) {
            let connection = try await PostgresConnection.connect(
                configuration: endpoint.singleConnection, id: 1, logger: TestStack.logger)
            try await connection.close()
        }
    }

    @Test func aBadModeOrRootCertificateIsASettingError() throws {
        #expect(throws: SettingError.self) {
            try options(["--pg-sslmode", "allow"]).endpoint(namespace: namespace)
        }
        #expect(throws: SettingError.self) {
            try options(["--pg-sslmode", "verify-full", "--pg-sslrootcert", "/nonexistent.pem"]).endpoint(
                namespace: namespace)
        }
    }

    @Test func theMastersPoolAndCreateWriterBothUseTLS() async throws {
        let namespace = try await TestStack.makeNamespace()
        var configuration = try MasterApplication.Configuration.test(namespace)
        configuration.postgres = try options(["--pg-sslmode", "require"]).endpoint(namespace: namespace)
        let master = try MasterApplication(configuration: configuration, logger: TestStack.logger)
        try await withRunningServices(master.backgroundServices) {
            _ = try await master.createWriter.create(
                NewLink(url: "https://example.com/tls", alias: nil, expiresAt: nil, maxClicks: nil, tags: []),
                idempotency: nil)
            let rows = try await master.postgres.query(
                """
                SELECT (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()),
                    (SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                        WHERE a.application_name = \(WriterConnection.applicationName)
                        AND a.datname = \(namespace.databaseName))
                """, logger: TestStack.logger)
            for try await (pool, writer) in rows.decode((Bool, Bool?).self) {
                #expect(pool)
                #expect(writer == true)
            }
        }
    }
}
