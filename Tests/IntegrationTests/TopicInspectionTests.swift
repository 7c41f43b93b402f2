import Foundation
import NIOConcurrencyHelpers
import SharedConfiguration
import SharedEvents
import SharedKafka
import TestSupport
import Testing
@testable import Master
import SharedLinks

/// `master topics` against the dev broker: partitions, watermarks and consumer lag.
@Suite struct TopicInspectionTests {
    private func withInspector<Value>(
        _ namespace: Namespace, _ body: (TopicInspector) async throws -> Value
    ) async throws -> Value {
        let admin = try KafkaAdmin(bootstrapServers: try TestStack.kafkaBrokers, logger: TestStack.logger)
        defer { admin.close() }
        let definitions = try TopicName.allCases.map { try TopicDefinition.load($0, from: TestStack.topicsDirectory) }
        return try await body(TopicInspector(admin: admin, namespace: namespace, definitions: definitions))
    }

    /// Produces `count` link events to `<ns>-links`; returns how many landed in each partition.
    private func produce(_ count: Int, to namespace: Namespace, from first: Int = 0) async throws -> [Int32: Int64] {
        let producer = try KafkaProducer(
            settings: .init(bootstrapServers: try TestStack.kafkaBrokers), logger: TestStack.logger)
        return try await withRunningServices([producer]) {
            var perPartition: [Int32: Int64] = [:]
            for index in first..<(first + count) {
                let event = LinkEvent.created(
                    LinkAddress(code: "c\(index)"), url: "https://example.com/\(index)", expiresAt: nil, revision: 1)
                let report = try await producer.send(
                    topic: namespace.linksTopic, key: event.code, value: EventCodec.encode(event))
                perPartition[report.partition, default: 0] += 1
            }
            return perPartition
        }
    }

    @Test func describeReportsThePartitionsOfTopicsAndTheHighWatermarks() async throws {
        let namespace = try await TestStack.makeNamespace()
        let produced = try await produce(25, to: namespace)

        let report = try await withInspector(namespace) { try await $0.describe([], replicaIDs: [], extraGroups: []) }

        #expect(report.missing.isEmpty)
        #expect(report.topics.map(\.topic.name) == TopicName.allCases.map { namespace.topic($0) })
        for entry in report.topics {
            let definition = try TopicDefinition.load(
                TopicName.allCases.first { namespace.topic($0) == entry.topic.name }!, from: TestStack.topicsDirectory)
            #expect(entry.topic.partitions.count == definition.partitions, "\(entry.topic.name)")
        }
        let links = try #require(report.topics.first { $0.topic.name == namespace.linksTopic }?.topic)
        #expect(links.messages == 25)
        for partition in links.partitions {
            #expect(partition.lowWatermark == 0)
            #expect(partition.highWatermark == produced[partition.partition, default: 0])
        }
        #expect(report.topics.first { $0.topic.name == namespace.countsTopic }?.topic.messages == 0)
    }

    @Test func consumerLagBeforeAndAfterAConsumerRuns() async throws {
        let namespace = try await TestStack.makeNamespace()
        let group = "\(namespace.name)-lag-probe"
        _ = try await produce(12, to: namespace)
        let lag = { () async throws -> KafkaGroupLag in
            let report = try await withInspector(namespace) {
                try await $0.describe([.links], replicaIDs: [], extraGroups: [group])
            }
            return try #require(report.topics.first?.groups.first { $0.group == group })
        }

        let before = try await lag()
        #expect(before.totalLag == 12)
        #expect(!before.hasCommitted)

        let handled = NIOLockedValueBox(0)
        let consumer = try KafkaConsumer(
            settings: .init(
                bootstrapServers: try TestStack.kafkaBrokers, groupID: group,
                assignment: .subscribe(topics: [namespace.linksTopic])),
            logger: TestStack.logger
        ) { (_: KafkaMessage) in handled.withLockedValue { $0 += 1 } }
        try await withRunningServices([consumer]) {
            #expect(await eventually(timeout: .seconds(30)) { handled.withLockedValue { $0 } == 12 })
        }

        let after = try await lag()
        #expect(after.totalLag == 0)
        #expect(after.partitions.allSatisfy { ($0.committedOffset ?? 0) == $0.highWatermark })

        _ = try await produce(5, to: namespace, from: 12)
        #expect(try await lag().totalLag == 5)
    }

    @Test func applyOnTheDevBrokerCreatesNothingAndFindsNoDrift() async throws {
        let namespace = try await TestStack.makeNamespace()
        let result = try await withInspector(namespace) { try await $0.apply(dryRun: false) }
        #expect(result.brokerManagesTopics)
        #expect(result.outcomes.map(\.topic) == TopicName.allCases.map { namespace.topic($0) })
        #expect(result.outcomes.allSatisfy { $0.outcome == .unchanged })
    }
}
