import ArgumentParser

/// The master: creates links (Postgres + outbox), aggregates the replicas' click counts and
/// runs the database migrations.
@main
struct MasterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "master",
        abstract: "Creates short links; the outbox relay carries them to the replicas.",
        subcommands: [
            ServeCommand.self, MigrateCommand.self, KeysCommand.self, DomainsCommand.self, LinksCommand.self,
            TailCommand.self, AuditCommand.self, VisitsCommand.self,
            BackfillCommand.self, TopicsCommand.self,
        ],
        defaultSubcommand: ServeCommand.self
    )
}
