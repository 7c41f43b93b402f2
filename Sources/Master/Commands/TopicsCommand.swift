import ArgumentParser
import Foundation
import SharedConfiguration
import SharedEvents
import SharedKafka
import SharedService

/// `master topics`: inspect the project's topics on the cluster and create them from `topics/`.
struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Inspect the project's Kafka topics and consumer lag, or create the topics from topics/.",
        subcommands: [List.self, Describe.self, Apply.self])

    /// The settings every `topics` subcommand takes.
    struct Options: ParsableArguments {
        @OptionGroup var common: CommonOptions

        /// Print JSON instead of text.
        @Flag(help: "Print JSON instead of text.") var json = false

        /// Runs `work` with an inspector for the configured cluster and namespace.
        func withInspector<Value>(_ work: (TopicInspector) async throws -> Value) async throws -> Value {
            let logger = try Observability.bootstrap(service: "topics", options: common)
            let admin = try KafkaAdmin(bootstrapServers: common.kafkaBrokers, logger: logger)
            defer { admin.close() }
            let definitions = try TopicName.allCases.map { try TopicDefinition.load($0, from: common.topicsDir) }
            return try await work(
                TopicInspector(admin: admin, namespace: try common.resolvedNamespace(), definitions: definitions))
        }

        /// Prints `value` as JSON with snake_case keys.
        func printJSON(_ value: some Encodable) throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            print(String(decoding: try encoder.encode(value), as: UTF8.self))
        }
    }

    /// `master topics list`
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the project's topics (or every topic) with partitions, replication and message counts.")

        @OptionGroup var options: Options

        /// Also list topics that are not the project's.
        @Flag(help: "List every topic of the cluster, not only the project's.") var all = false

        func run() async throws {
            let topics = try await options.withInspector { try await $0.list(all: all) }
            if options.json { return try options.printJSON(topics) }
            print(
                TextTable(
                    headers: ["topic", "partitions", "replication", "messages"],
                    rows: topics.map {
                        [$0.name, "\($0.partitions.count)", "\($0.replicationFactor)", "\($0.messages)"]
                    }
                ).rendered)
        }
    }

    /// `master topics describe`
    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show partitions, leaders, watermarks and every consumer group's lag per partition.")

        @OptionGroup var options: Options

        @Argument(help: "Topics to describe: links, counts, dlq, milestones (default: all).")
        var topics: [TopicName] = []

        /// More consumer groups to report, beyond those the cluster lists.
        @Option(name: .customLong("group"), help: "Also report this consumer group (repeatable).")
        var groups: [String] = []

        /// Replica ids whose groups are looked for when the broker cannot list groups.
        /// Default: `a,b` (as `make run` starts them). Environment: `SHORTENER_REPLICA_IDS`.
        @Option(help: "Replica ids to look for when the broker cannot list groups (env SHORTENER_REPLICA_IDS).")
        var replicaIDs: String = EnvironmentDefaults.string("SHORTENER_REPLICA_IDS", "a,b")

        func run() async throws {
            let ids = replicaIDs.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let report = try await options.withInspector {
                try await $0.describe(topics, replicaIDs: ids, extraGroups: groups)
            }
            if options.json { return try options.printJSON(report) }
            print(Self.render(report))
        }

        static func render(_ report: TopicInspector.Report) -> String {
            var lines: [String] = []
            for entry in report.topics {
                let topic = entry.topic
                lines.append(
                    "\(topic.name): \(topic.partitions.count) partition\(topic.partitions.count == 1 ? "" : "s"), replication factor \(topic.replicationFactor), \(topic.messages) messages"
                )
                lines.append(
                    TextTable(
                        headers: ["partition", "leader", "replicas", "in-sync", "low", "high", "messages"],
                        rows: topic.partitions.map { partition in
                            [
                                "\(partition.partition)", "\(partition.leader)",
                                partition.replicas.map(String.init).joined(separator: ","),
                                partition.inSyncReplicas.map(String.init).joined(separator: ","),
                                "\(partition.lowWatermark)", "\(partition.highWatermark)", "\(partition.messages)",
                            ]
                        }, indent: 2
                    ).rendered)
                if entry.groups.isEmpty { lines.append("  no consumer group has committed offsets here") }
                for group in entry.groups {
                    lines.append("  group \(group.group): lag \(group.totalLag)")
                    lines.append(
                        TextTable(
                            headers: ["partition", "committed", "high", "lag"],
                            rows: group.partitions.map { partition in
                                [
                                    "\(partition.partition)", partition.committedOffset.map(String.init) ?? "-",
                                    "\(partition.highWatermark)", "\(partition.lag)",
                                ]
                            }, indent: 4
                        ).rendered)
                }
                lines.append("")
            }
            for name in report.missing { lines.append("\(name): missing (create it with `master topics apply`)") }
            switch report.groupSource {
            case .cluster:
                lines.append("Consumer groups as listed by the cluster.")
            case .project:
                lines.append(
                    "This broker cannot list consumer groups (the dev broker): looked for the project's own groups; add others with --group."
                )
            }
            return lines.joined(separator: "\n")
        }
    }

    /// `master topics apply`
    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create missing topics from topics/ and report drift in partitions, replication and configs.",
            discussion: "Exits with status 2 when an existing topic differs from its definition; it never alters one.")

        @OptionGroup var options: Options

        /// Report only; create nothing.
        @Flag(help: "Only report what would be created and what differs.") var dryRun = false

        func run() async throws {
            let result = try await options.withInspector { try await $0.apply(dryRun: dryRun) }
            for (topic, outcome) in result.outcomes {
                switch outcome {
                case .created: print("\(topic): created")
                case .unchanged: print("\(topic): matches topics/")
                case .failed(let reason): print("\(topic): not created: \(reason)")
                case .drifted(let differences):
                    print("\(topic): differs from topics/")
                    for difference in differences { print("  \(difference)") }
                }
            }
            if result.brokerManagesTopics {
                print(
                    """
                    This is the dev broker (librdkafka's mock cluster): it creates the project's topics itself \
                    from topics/ when it starts, and has no admin API to create or configure them. Only partition \
                    counts were compared. On a real cluster this command creates missing topics and compares \
                    replication and every config.
                    """)
            }
            if result.hasFailures { throw ExitCode.failure }
            if result.hasDrift { throw ExitCode(2) }
        }
    }
}

/// Columns padded to their widest cell: numbers right-aligned, text left-aligned.
struct TextTable {
    let headers: [String]
    let rows: [[String]]
    var indent = 0

    var rendered: String {
        let widths = headers.indices.map { column in
            ([headers[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0
        }
        let numeric = headers.indices.map { column in
            rows.allSatisfy { Int64($0[column]) != nil || $0[column] == "-" }
        }
        return ([headers] + rows).map { cells in
            var line =
                String(repeating: " ", count: indent)
                + cells.enumerated().map { column, cell in
                    let padding = String(repeating: " ", count: widths[column] - cell.count)
                    return numeric[column] ? padding + cell : cell + padding
                }.joined(separator: "  ")
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }
}
