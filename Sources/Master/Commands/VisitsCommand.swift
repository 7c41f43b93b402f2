import ArgumentParser
import Foundation
import Logging
import SharedConfiguration
import SharedEvents
import SharedJSON
import SharedKafka
import SharedLinks
import SharedService

/// `master visits export`: the visits of a time range from `<ns>-visits`.
struct VisitsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "visits", abstract: "Read the visits the replicas answered (the visits topic).",
        subcommands: [Export.self])

    /// How `master visits export` writes visits.
    enum Format: String, CaseIterable, ExpressibleByArgument {
        /// One JSON object per line, the API's fields.
        case ndjson
        /// A header line, then one row per visit.
        case csv
    }

    /// `master visits export`
    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Write the visits of a time range to standard output, oldest first, with progress on standard error."
        )

        @OptionGroup var common: CommonOptions

        /// The first visits written are made at or after this time (RFC 3339). Default: the
        /// oldest kept.
        @Option(help: "Visits made at or after this RFC 3339 time (default: the oldest kept).")
        var from: String?

        /// Visits made before this time (RFC 3339). Default: now.
        @Option(help: "Visits made before this RFC 3339 time (default: now).")
        var to: String?

        /// Only this link's visits.
        @Option(help: "Only the visits of this short code.")
        var code: String?

        /// The domain of `--code`, when it is not the default one.
        @Option(help: "The domain of --code (default: the default domain).")
        var domain: String?

        /// Only the visits that found no link (`404`s and root visits).
        @Flag(help: "Only the visits that found no link (404s, root visits).")
        var orphans = false

        /// `ndjson` (default) or `csv`.
        @Option(help: "ndjson (default) or csv.")
        var format: Format = .ndjson

        func validate() throws {
            for (name, value) in [("--from", from), ("--to", to)] {
                if let value, (try? RFC3339.parse(value)) == nil {
                    throw ValidationError("\(name) must be an RFC 3339 time, like 2026-12-01T00:00:00Z")
                }
            }
            if let from, let to, let start = try? RFC3339.parse(from), let end = try? RFC3339.parse(to), start > end {
                throw ValidationError("--from is after --to")
            }
            if let code, !ShortCode.isWellFormed(code) { throw ValidationError("--code is not a short code") }
            if domain != nil, code == nil { throw ValidationError("--domain needs --code") }
            if let domain, (try? DomainName.normalized(domain)) == nil {
                throw ValidationError("--domain is not a host name")
            }
            if orphans, code != nil { throw ValidationError("--orphans and --code exclude each other") }
        }

        /// The columns of the CSV format, in order.
        static let csvColumns = [
            "occurred_at", "domain", "code", "outcome", "rule", "variant", "country", "device", "browser", "os",
            "referrer", "bot", "replica_id", "event_id",
        ]

        func run() async throws {
            let logger = try Observability.bootstrap(service: "visits", options: common)
            let namespace = try common.resolvedNamespace()
            let settings = try KafkaClientSettings.load(from: common.topicsDir)[.masterVisits]
            func reader(_ partition: Int32) throws -> KafkaPartitionReader {
                try KafkaPartitionReader(
                    bootstrapServers: common.kafkaBrokers, groupID: "\(namespace.name)-visits-export",
                    topic: namespace.visitsTopic, partition: partition, clientSettings: settings, logger: logger)
            }
            let first = try reader(0)
            var readers = [first]
            do {
                let count = try await first.partitionCount()
                let key: String? =
                    if orphans { VisitEvent.orphanKey } else {
                        try code.map { LinkAddress(domain: try domain.map(DomainName.normalized), code: $0).key }
                    }
                if let key {
                    let partition = KafkaPartitionReader.partition(ofKey: key, count: count)
                    if partition != 0 { readers.append(try reader(partition)) }
                    try await write(from: [readers.last ?? first], key: key, logger: logger)
                } else {
                    readers += try (1..<count).map(reader)
                    try await write(from: readers, key: nil, logger: logger)
                }
            } catch {
                for reader in readers { await reader.shutdown() }
                throw error
            }
            for reader in readers { await reader.shutdown() }
        }

        /// Writes the visits of `readers`' partitions (only `key`'s when given) to standard
        /// output, with progress on standard error.
        private func write(from readers: [KafkaPartitionReader], key: String?, logger: Logger) async throws {
            var export = VisitExport(
                readers: readers, from: try from.map(RFC3339.parse), to: try to.map(RFC3339.parse) ?? Date(),
                key: key, logger: logger)
            try await export.prepare()
            var progress = ProgressDisplay(label: "Export", total: export.total, unit: "messages")
            var buffer: [UInt8] = []
            var written: Int64 = 0
            var read: Int64 = 0
            func flush() {
                FileHandle.standardOutput.write(Data(buffer))
                buffer.removeAll(keepingCapacity: true)
            }
            if format == .csv { CSVWriter.append(Self.csvColumns, to: &buffer) }
            try await export.run(
                visit: { event in
                    written += 1
                    switch format {
                    case .ndjson:
                        buffer += try JSONEncoder.project.encode(VisitsController.VisitAnswer(event: event))
                        buffer.append(UInt8(ascii: "\n"))
                    case .csv:
                        CSVWriter.append(Self.csvRow(event), to: &buffer)
                    }
                    if buffer.count >= 1 << 16 { flush() }
                },
                progress: { done in
                    read = done
                    progress.update(done)
                })
            flush()
            progress.finish(read)
            FileHandle.standardError.write(Data("Exported \(written) visits.\n".utf8))
        }

        /// A visit as a CSV row, in ``csvColumns``' order.
        static func csvRow(_ event: VisitEvent) -> [String] {
            [
                RFC3339.format(event.occurredAt), event.domain ?? "", event.code, String(event.outcome),
                event.rule.map(String.init) ?? "", event.variant.map(String.init) ?? "", event.country, event.device,
                event.browser, event.os, event.referrer, event.bot ? "true" : "false", event.replicaID,
                event.eventID.uuidString.lowercased(),
            ]
        }
    }
}
