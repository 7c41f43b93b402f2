import Foundation
import Logging
import PostgresNIO
import SharedConfiguration

/// Applies and reverts the numbered SQL files in `migrations/` (`0001_name.up.sql` and
/// `0001_name.down.sql`), recording what ran in `schema_migrations`. Each migration runs in
/// its own transaction; a session advisory lock keeps two runners from applying at once.
public struct Migrator: Sendable {
    /// One migration found on disk.
    public struct Migration: Sendable, Equatable {
        public let version: Int
        public let name: String
        public let up: String
        public let down: String
    }

    /// A migration and whether it has been applied.
    public struct Status: Sendable, Equatable {
        public let version: Int
        public let name: String
        public let appliedAt: Date?
    }

    /// The migrations on disk, in version order.
    public let migrations: [Migration]
    private let logger: Logger

    /// Arbitrary but fixed: the key of the advisory lock migration runners take.
    private static let lockKey: Int64 = 0x5348_4F52_544D_4947

    public init(directory: String, logger: Logger) throws {
        self.migrations = try Self.load(directory: directory)
        self.logger = logger
    }

    static func load(directory: String) throws -> [Migration] {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw SettingError("cannot read migrations folder \(directory) (set --migrations-dir)")
        }
        var byVersion: [Int: (name: String, up: String?, down: String?)] = [:]
        for file in files where file.hasSuffix(".sql") {
            let stem = file.dropLast(".sql".count)
            let isUp = stem.hasSuffix(".up")
            guard isUp || stem.hasSuffix(".down"), let underscore = stem.firstIndex(of: "_"),
                let version = Int(stem[..<underscore])
            else { throw SettingError("migration file \(file) is not named NNNN_name.up.sql or NNNN_name.down.sql") }
            let name = String(stem[stem.index(after: underscore)...].dropLast(isUp ? 3 : 5))
            let sql = try String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8)
            var entry = byVersion[version] ?? (name, nil, nil)
            if isUp { entry.up = sql } else { entry.down = sql }
            byVersion[version] = entry
        }
        return try byVersion.keys.sorted().map { version in
            let entry = byVersion[version]!
            guard let up = entry.up, let down = entry.down else {
                throw SettingError("migration \(version)_\(entry.name) needs both an .up.sql and a .down.sql file")
            }
            return Migration(version: version, name: entry.name, up: up, down: down)
        }
    }

    /// Creates the database if it does not exist yet (connecting to `maintenance` to do so).
    public static func createDatabaseIfMissing(
        _ name: String, maintenance: PostgresClient.Configuration,
        logger: Logger
    ) async throws {
        try await PostgresClient.withRunning(maintenance, logger: logger) { client in
            let rows = try await client.query("SELECT 1 FROM pg_database WHERE datname = \(name)", logger: logger)
            for try await _ in rows { return }
            do {
                try await client.query("CREATE DATABASE \(unescaped: Self.quotedIdentifier(name))", logger: logger)
                logger.info("Created database", metadata: ["postgres.database": "\(name)"])
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42P04" {
                // Created by a concurrent runner meanwhile: fine.
            }
        }
    }

    static func quotedIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Applies every migration not applied yet; returns the versions it applied.
    @discardableResult
    public func up(_ client: PostgresClient) async throws -> [Int] {
        try await withLock(client) { connection in
            let applied = try await appliedVersions(connection)
            var done: [Int] = []
            for migration in migrations where applied[migration.version] == nil {
                try await connection.withTransaction(logger: logger) { transaction in
                    for statement in SQLScript.statements(migration.up) {
                        try await transaction.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await transaction.query(
                        """
                        INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))
                        """, logger: logger)
                }
                logger.info("Applied migration", metadata: ["migration": "\(migration.version)_\(migration.name)"])
                done.append(migration.version)
            }
            return done
        }
    }

    /// Reverts the `steps` most recently applied migrations; returns the versions it reverted.
    @discardableResult
    public func down(_ client: PostgresClient, steps: Int = 1) async throws -> [Int] {
        try await withLock(client) { connection in
            let applied = try await appliedVersions(connection)
            let toRevert = migrations.filter { applied[$0.version] != nil }.suffix(steps).reversed()
            var done: [Int] = []
            for migration in toRevert {
                try await connection.withTransaction(logger: logger) { transaction in
                    for statement in SQLScript.statements(migration.down) {
                        try await transaction.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await transaction.query(
                        "DELETE FROM schema_migrations WHERE version = \(migration.version)", logger: logger)
                }
                logger.info("Reverted migration", metadata: ["migration": "\(migration.version)_\(migration.name)"])
                done.append(migration.version)
            }
            return done
        }
    }

    /// Every migration on disk and when it was applied.
    public func status(_ client: PostgresClient) async throws -> [Status] {
        try await withLock(client) { connection in
            let applied = try await appliedVersions(connection)
            return migrations.map { Status(version: $0.version, name: $0.name, appliedAt: applied[$0.version]) }
        }
    }

    private func withLock<Result: Sendable>(
        _ client: PostgresClient, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
            do {
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS schema_migrations (
                        version integer PRIMARY KEY,
                        name text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """, logger: logger)
                let result = try await body(connection)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                return result
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                throw error
            }
        }
    }

    private func appliedVersions(_ connection: PostgresConnection) async throws -> [Int: Date] {
        var applied: [Int: Date] = [:]
        let rows = try await connection.query("SELECT version, applied_at FROM schema_migrations", logger: logger)
        for try await (version, appliedAt) in rows.decode((Int, Date).self) { applied[version] = appliedAt }
        return applied
    }
}
