import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SharedConfiguration
import SharedEvents
import SharedKafka
import SharedService

extension TopicName: ExpressibleByArgument {}

/// `master tail <topic>`: prints the messages of one of the project's topics, decoded, for
/// debugging. Reads every partition without joining a consumer group's balancing.
struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract:
            "Print the messages of a project topic (links, counts, dlq, milestones, audit), decoded, as they arrive.")

    @OptionGroup var common: CommonOptions

    @Argument(help: "The topic: links, counts, dlq, milestones or audit (the namespace prefix is added).")
    var topic: TopicName

    /// Start at offset zero instead of at the end.
    @Flag(help: "Start at the beginning of every partition instead of at the end.")
    var fromBeginning = false

    /// Stop once every partition has been read up to where it ended at the start.
    @Flag(help: "Exit once every partition has been read up to where it ended at the start.")
    var exitAtEnd = false

    func run() async throws {
        let logger = try Observability.bootstrap(service: "tail", options: common)
        let namespace = try common.resolvedNamespace()
        let fromBeginning = self.fromBeginning
        let topic = self.topic
        let consumer = try KafkaConsumer(
            settings: KafkaConsumerSettings(
                bootstrapServers: common.kafkaBrokers, groupID: "\(namespace.name)-tail",
                assignment: .allPartitions(topic: namespace.topic(topic)) { partitions in
                    fromBeginning
                        ? [:]
                        : Dictionary(
                            uniqueKeysWithValues: partitions.map { ($0, KafkaConsumerSettings.newMessagesOnly) })
                }),
            logger: logger
        ) { message in
            // Written at once, even into a pipe: the point of tailing is to see messages as they come.
            FileHandle.standardOutput.write(Data((Self.describe(message, as: topic) + "\n").utf8))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: consumer)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            if exitAtEnd {
                tasks.addTask {
                    while !consumer.isCaughtUp { try await Task.sleep(for: .milliseconds(100)) }
                    await group.triggerGracefulShutdown()
                }
            }
            try await tasks.waitForAll()
        }
    }

    /// One line: position, key, and the event as JSON, or why it is unusable.
    static func describe(_ message: KafkaMessage, as topic: TopicName) -> String {
        let position = "\(message.topic)/\(message.partition)@\(message.offset) key=\(message.keyString ?? "-")"
        let text = String(decoding: message.value, as: UTF8.self)
        let verdict: String
        do {
            switch topic {
            case .links where DomainEvent.isDomainKey(message.key): _ = try EventCodec.decodeDomainEvent(message.value)
            case .links: _ = try EventCodec.decodeLinkEvent(message.value)
            case .counts: _ = try EventCodec.decodeClickCountEvent(message.value)
            case .milestones: _ = try EventCodec.decodeLinkMilestoneEvent(message.value)
            case .audit: _ = try EventCodec.decodeAuditEvent(message.value)
            case .visits: _ = try EventCodec.decodeVisitEvent(message.value)
            case .dlq: break
            }
            verdict = text
        } catch {
            verdict = "UNUSABLE (\(error.reason)) \(text.debugDescription)"
        }
        let headers = message.headers.map {
            " \($0.name)=\(String(decoding: $0.value, as: UTF8.self).debugDescription)"
        }
        return position + " " + verdict + headers.joined()
    }
}
