import Logging
import PostgresNIO
import SharedResilience

extension CircuitBreaker {
    /// The breaker for Postgres. Only the server's own trouble counts: no answer at all (a
    /// connection error, a timeout) or an SQLSTATE of class 08 (connection), 53 (insufficient
    /// resources), 57 (operator intervention, e.g. shutdown), 58 (system error) or XX (internal
    /// error). A rejected statement (bad data, a taken alias, a serialization conflict) is the
    /// request's doing, not an outage; so is a statement that outlasted the `statement_timeout`
    /// its query class set (57014, ``isStatementTimeout``): a server that answers in time
    /// everyone else is up, and one client's slow searches must not close it to all.
    public static func postgres(settings: Settings = Settings(), logger: Logger) -> CircuitBreaker {
        CircuitBreaker(
            dependency: "postgres", settings: settings, logger: logger,
            isDependencyFailure: { error in
                guard let state = error.postgresSQLState else { return true }
                return !error.isStatementTimeout && postgresOutageClasses.contains(String(state.prefix(2)))
            })
    }

    /// SQLSTATE classes that say the server, not the statement, is in trouble.
    static let postgresOutageClasses: Set<String> = ["08", "53", "57", "58", "XX"]
}

extension PostgresClient {
    /// Why the database cannot be used right now (empty when it answers), asked through `breaker`
    /// so that readiness probes also notice an outage while no other traffic does.
    /// An open breaker is reported by ``HealthController`` itself and is not probed.
    public func readinessProblems(through breaker: CircuitBreaker, logger: Logger) async -> [String] {
        guard breaker.state != .open else { return [] }
        do {
            try await breaker.run { [self] in _ = try await query("SELECT 1", logger: logger) }
            return []
        } catch {
            // The probe is public: its answer names the dependency, never the server's words.
            logger.warning("Readiness: Postgres did not answer", metadata: ["error": "\(String(reflecting: error))"])
            return [error is CircuitOpenError ? "postgres: circuit open" : "postgres: not answering"]
        }
    }
}
