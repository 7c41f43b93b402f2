import ArgumentParser
import Foundation
import SharedConfiguration
import SharedEvents
import SharedJSON
import SharedKafka
import SharedService

/// `master audit tail`: the audit trail (`<ns>-audit`), one event per line as JSON.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Read the audit trail: every change made through the master, and by whom.",
        subcommands: [Tail.self])

    /// `master audit tail`
    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the audit events (JSON lines), oldest first, then new ones as they come.")

        @OptionGroup var common: CommonOptions

        /// Start with the first event made at or after this time (RFC 3339); the oldest kept
        /// without it.
        @Option(help: "Start at the first event made at or after this RFC 3339 time (default: the oldest kept).")
        var since: String?

        /// Stop at the end of the trail instead of waiting for new events.
        @Flag(help: "Exit at the end of the trail instead of waiting for new events.")
        var exitAtEnd = false

        func validate() throws {
            if let since, (try? RFC3339.parse(since)) == nil {
                throw ValidationError("--since must be an RFC 3339 time, like 2026-12-01T00:00:00Z")
            }
        }

        func run() async throws {
            let logger = try Observability.bootstrap(service: "audit", options: common)
            let namespace = try common.resolvedNamespace()
            let since = try since.map(RFC3339.parse)
            let reader = try KafkaPartitionReader(
                bootstrapServers: common.kafkaBrokers, groupID: "\(namespace.name)-audit-tail",
                topic: namespace.topic(.audit),
                clientSettings: try KafkaClientSettings.load(from: common.topicsDir)[.masterAudit], logger: logger)
            do {
                var next = try await reader.bounds().low
                if let since {
                    next = try await reader.firstOffset(atOrAfter: Int64(since.timeIntervalSince1970 * 1000))
                }
                while !Task.isCancelled {
                    let high = try await reader.bounds().high
                    if next >= high {
                        if exitAtEnd { break }
                        try await Task.sleep(for: .milliseconds(500))
                        continue
                    }
                    for message in try await reader.read(from: next, before: high, maximum: 500) {
                        next = message.offset + 1
                        let text = String(decoding: message.value, as: UTF8.self)
                        guard let event = try? EventCodec.decodeAuditEvent(message.value) else {
                            FileHandle.standardError.write(Data("offset \(message.offset): not an audit event\n".utf8))
                            continue
                        }
                        if let since, event.occurredAt < since { continue }
                        FileHandle.standardOutput.write(Data((text + "\n").utf8))
                    }
                }
            } catch {
                await reader.shutdown()
                throw error
            }
            await reader.shutdown()
        }
    }
}
