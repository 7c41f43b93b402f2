import ArgumentParser
import Logging
import PostgresNIO
import SharedConfiguration
import SharedEvents
import SharedJSON
import SharedPostgres
import SharedService

/// `master migrate up|down|status`: the database schema.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply, revert or list the database migrations.",
        subcommands: [Up.self, Down.self, Status.self]
    )

    /// Settings shared by the migrate subcommands.
    struct Options: ParsableArguments {
        @OptionGroup var common: CommonOptions
        @OptionGroup var postgres: PostgresOptions

        /// Folder of the numbered SQL files. Default: `migrations`. Environment: `SHORTENER_MIGRATIONS_DIR`.
        @Option(help: "Folder of the numbered SQL migrations (env SHORTENER_MIGRATIONS_DIR).")
        var migrationsDir: String = EnvironmentDefaults.string("SHORTENER_MIGRATIONS_DIR", "migrations")

        /// Runs `body` with a migrator and a client on the namespace's database.
        func withMigrator<Result: Sendable>(
            createDatabase: Bool = false, _ body: @Sendable (Migrator, PostgresClient) async throws -> Result
        ) async throws -> Result {
            let logger = try Observability.bootstrap(service: "migrate", options: common)
            let namespace = try common.resolvedNamespace()
            let migrator = try Migrator(directory: migrationsDir, logger: logger)
            let configuration = try postgres.clientConfiguration(namespace: namespace)
            if createDatabase, let database = configuration.database {
                try await Migrator.createDatabaseIfMissing(
                    database, maintenance: try postgres.clientConfiguration(namespace: namespace, database: "postgres"),
                    logger: logger)
            }
            return try await PostgresClient.withRunning(configuration, logger: logger) { client in
                try await body(migrator, client)
            }
        }
    }

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the database if needed and apply pending migrations.")
        @OptionGroup var options: Options

        func run() async throws {
            let applied = try await options.withMigrator(createDatabase: true) { try await $0.up($1) }
            print(
                applied.isEmpty
                    ? "Nothing to apply: the schema is up to date."
                    : "Applied: \(applied.map(String.init).joined(separator: ", "))")
        }
    }

    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revert the most recent migrations.")
        @OptionGroup var options: Options
        @Option(help: "How many migrations to revert.") var steps: Int = 1

        func run() async throws {
            let steps = self.steps
            let reverted = try await options.withMigrator { try await $0.down($1, steps: steps) }
            print(
                reverted.isEmpty
                    ? "Nothing to revert." : "Reverted: \(reverted.map(String.init).joined(separator: ", "))")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List migrations and whether they are applied.")
        @OptionGroup var options: Options

        func run() async throws {
            let statuses = try await options.withMigrator { try await $0.status($1) }
            for status in statuses {
                let state = status.appliedAt.map { "applied \(RFC3339.format($0))" } ?? "pending"
                print(String(format: "%04d", status.version), status.name, state)
            }
        }
    }
}
