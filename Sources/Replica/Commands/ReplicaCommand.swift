import ArgumentParser
import Logging
import SharedConfiguration
import SharedKafka
import SharedLinks
import SharedRedis
import SharedService

/// A replica: keeps its own Redis in step with `<ns>-links` and serves redirects from it.
@main
struct ReplicaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replica",
        abstract: "Consume every link event into this replica's Redis and serve GET /<code> redirects.",
        subcommands: [ServeCommand.self, ReplayCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}

/// Which replica, and where its own Redis is: what every `replica` subcommand takes.
struct ReplicaOptions: ParsableArguments {
    /// This replica's id: names its consumer group `<ns>-replica-<id>`. Default: `a`.
    /// Environment: `SHORTENER_REPLICA_ID`.
    @Option(help: "This replica's id, naming its consumer group (env SHORTENER_REPLICA_ID).")
    var replicaID: String = EnvironmentDefaults.string("SHORTENER_REPLICA_ID", "a")

    /// This replica's own Redis host. Default: `127.0.0.1`. Environment: `SHORTENER_REDIS_HOST`.
    @Option(help: "This replica's own Redis host (env SHORTENER_REDIS_HOST).")
    var redisHost: String = EnvironmentDefaults.string("SHORTENER_REDIS_HOST", "127.0.0.1")

    /// This replica's own Redis port. Default: 26379. Environment: `SHORTENER_REDIS_PORT`.
    @Option(help: "This replica's own Redis port (env SHORTENER_REDIS_PORT).")
    var redisPort: Int = EnvironmentDefaults.int("SHORTENER_REDIS_PORT", 26379)

    func validate() throws {
        guard ShortCode.isWellFormed(replicaID) else {
            throw ValidationError("--replica-id must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")
        }
    }

    /// A connection to this replica's Redis.
    func connectRedis(logger: Logger) -> RedisConnection {
        RedisConnection(host: redisHost, port: redisPort, logger: logger)
    }
}
