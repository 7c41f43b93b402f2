import Foundation
import Logging
import SharedConfiguration
import Testing

@testable import SharedKafka

@Suite struct TopicDefinitionTests {
    @Test func parsesPartitionsReplicationAndTopicConfigs() throws {
        let definition = try TopicDefinition.parse(
            """
            # comment
            partitions=3
            replication.factor = 3
            cleanup.policy=compact

            """, topic: .links)
        #expect(definition.partitions == 3 && definition.replicationFactor == 3)
        #expect(definition.topicConfigs == ["cleanup.policy": "compact"])
    }

    @Test func clientSettingsInATopicFileAreRejectedNotIgnored() {
        for line in ["producer.linger.ms=1", "consumer.fetch.wait.max.ms=10"] {
            #expect(throws: SettingError.self) {
                try TopicDefinition.parse("partitions=3\nreplication.factor=1\n\(line)", topic: .links)
            }
        }
    }

    @Test func theEnvironmentOverridesTheFile() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("topics").path
        let definition = try TopicDefinition.load(
            .links, from: directory,
            environment: [
                "SHORTENER_TOPIC_LINKS_PARTITIONS": "6",
                "SHORTENER_TOPIC_LINKS_RETENTION_MS": "1000", "SHORTENER_TOPIC_COUNTS_PARTITIONS": "9",
            ])
        #expect(definition.partitions == 6)
        #expect(definition.topicConfigs["retention.ms"] == "1000")
        #expect(definition.topicConfigs["cleanup.policy"] == "compact")
    }

    @Test func rejectsIncompleteOrBrokenFiles() {
        #expect(throws: SettingError.self) { try TopicDefinition.parse("replication.factor=1", topic: .links) }
        #expect(throws: SettingError.self) {
            try TopicDefinition.parse("partitions=0\nreplication.factor=1", topic: .links)
        }
        #expect(throws: SettingError.self) { try TopicDefinition.parse("partitions 3", topic: .links) }
    }

    @Test func theProjectsTopicFilesAreValidAndBrief() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("topics").path
        for topic in TopicName.allCases {
            let definition = try TopicDefinition.load(topic, from: directory)
            let settings = 2 + definition.topicConfigs.count
            #expect(settings < 10, "\(topic) has \(settings) settings")
        }
        #expect(try TopicDefinition.load(.links, from: directory).topicConfigs["cleanup.policy"] == "compact")
    }
}

/// Each Kafka client has its own settings; a key for no client fails instead of being ignored.
@Suite struct KafkaClientSettingsTests {
    private var topicsDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("topics").path
    }

    @Test func eachClientGetsItsOwnBlock() throws {
        let clients = try KafkaClientSettings.parse(
            """
            # comment
            relay.linger.ms=1
            replica-counts.linger.ms = 50
            notifier.fetch.wait.max.ms=10
            """)
        #expect(clients[.relay] == ["linger.ms": "1"])
        #expect(clients[.replicaCounts] == ["linger.ms": "50"])
        #expect(clients[.notifier] == ["fetch.wait.max.ms": "10"])
        #expect(clients[.masterCounts].isEmpty)
    }

    @Test func aKeyForNoClientFails() {
        for text in ["links.linger.ms=1", "linger.ms=1", "relay"] {
            #expect(throws: SettingError.self) { try KafkaClientSettings.parse(text) }
        }
    }

    @Test func theEnvironmentOverridesTheFile() throws {
        let clients = try KafkaClientSettings.load(
            from: topicsDirectory,
            environment: [
                "SHORTENER_CLIENT_RELAY_LINGER_MS": "7", "SHORTENER_CLIENT_REPLICA_LINKS_FETCH_WAIT_MAX_MS": "20",
                "SHORTENER_TOPIC_LINKS_PARTITIONS": "6",
            ])
        #expect(clients[.relay]["linger.ms"] == "7")
        #expect(clients[.relay]["partitioner"] == "murmur2_random")
        #expect(clients[.replicaLinks]["fetch.wait.max.ms"] == "20")
        #expect(throws: SettingError.self) {
            try KafkaClientSettings.load(from: topicsDirectory, environment: ["SHORTENER_CLIENT_LINKS_LINGER_MS": "1"])
        }
    }

    @Test func theProjectsFileSetsEveryClient() throws {
        let clients = try KafkaClientSettings.load(from: topicsDirectory, environment: [:])
        for role in KafkaClientRole.allCases {
            #expect(!clients[role].isEmpty, "\(role.rawValue) has no settings")
        }
    }
}

/// librdkafka itself says which settings a client would ignore; such a client is not made.
@Suite struct KafkaClientConfigurationTests {
    private func consumer(_ settings: [String: String]) throws -> KafkaConsumer {
        try KafkaConsumer(
            settings: .init(
                bootstrapServers: "127.0.0.1:1", groupID: "settings-test", assignment: .subscribe(topics: ["t"]),
                clientSettings: settings),
            logger: Logger(label: "test"), handler: { _ in })
    }

    @Test func aProducerSettingOnAConsumerFails() throws {
        #expect(throws: KafkaError.self) { try consumer(["linger.ms": "5"]) }
        #expect(throws: KafkaError.self) { try consumer(["no.such.setting": "1"]) }
        _ = try consumer(["fetch.wait.max.ms": "10"])
    }

    @Test func theDeliveryPromiseIsTheCodesWhateverTheFileSays() {
        let file = ["acks": "all", "enable.idempotence": "true", "message.send.max.retries": "5", "linger.ms": "50"]
        let atMostOnce = KafkaProducerSettings(bootstrapServers: "b:1", clientSettings: file, delivery: .atMostOnce)
            .librdkafkaSettings
        #expect(atMostOnce["enable.idempotence"] == "false")
        #expect(atMostOnce["acks"] == "1")
        #expect(atMostOnce["message.send.max.retries"] == "0")
        #expect(atMostOnce["linger.ms"] == "50")
        let idempotent = KafkaProducerSettings(bootstrapServers: "b:1", clientSettings: ["enable.idempotence": "false"])
            .librdkafkaSettings
        #expect(idempotent["enable.idempotence"] == "true")
    }

    @Test func aConsumerSettingOnAProducerFails() throws {
        #expect(throws: KafkaError.self) {
            try KafkaProducer(
                settings: .init(bootstrapServers: "127.0.0.1:1", clientSettings: ["fetch.wait.max.ms": "10"]),
                logger: Logger(label: "test"))
        }
    }
}
