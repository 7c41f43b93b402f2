import PostgresNIO
import SharedPostgres
import SharedResilience
import TestSupport
import Testing

/// What the public readiness probe says about a dependency: which one is wrong, never the
/// dependency's own words (server addresses, SQL, versions).
@Suite struct ReadinessTests {
    @Test func anUnreachablePostgresIsNamedWithoutItsErrorText() async throws {
        // Nothing listens on a free port.
        var configuration = PostgresClient.Configuration(
            host: "127.0.0.1", port: try TestStack.freePort(), username: "postgres", password: nil,
            database: "postgres", tls: .disable)
        configuration.options.connectTimeout = .seconds(1)
        let problems = try await PostgresClient.withRunning(configuration, logger: TestStack.logger) { client in
            await client.readinessProblems(through: .postgres(logger: TestStack.logger), logger: TestStack.logger)
        }
        #expect(problems == ["postgres: not answering"])
    }
}
