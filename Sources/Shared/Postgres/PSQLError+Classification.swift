import PostgresNIO

extension Error {
    /// The SQLSTATE the server answered with, looking through transaction wrappers.
    public var postgresSQLState: String? {
        if let transaction = self as? PostgresTransactionError {
            return (transaction.closureError ?? transaction.commitError ?? transaction.beginError)?.postgresSQLState
        }
        return (self as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// Whether Postgres refused the statement's data (SQLSTATE class 22, a data exception such
    /// as an overflow, or 23, an integrity violation): the same data will be refused again.
    public var isRefusedData: Bool {
        guard let state = postgresSQLState else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23")
    }

    /// Whether Postgres cancelled the statement at its `statement_timeout` (SQLSTATE 57014).
    public var isStatementTimeout: Bool { postgresSQLState == "57014" }

    /// Whether Postgres rejected a row because a unique key already exists (SQLSTATE 23505).
    public var isUniqueViolation: Bool { postgresSQLState == "23505" }

    /// The constraint the server named in its error (e.g. `links_pkey`), looking through
    /// transaction wrappers.
    public var postgresConstraint: String? {
        if let transaction = self as? PostgresTransactionError {
            return (transaction.closureError ?? transaction.commitError ?? transaction.beginError)?.postgresConstraint
        }
        return (self as? PSQLError)?.serverInfo?[.constraintName]
    }
}
