import Foundation
import SharedConfiguration

/// One topic as described by its file in `topics/` (`<topic>.properties`): its partitions,
/// replication and Kafka topic configs. The same files drive topic creation on a real cluster
/// and on the dev broker; the clients have their own settings (``KafkaClientSettings``).
public struct TopicDefinition: Sendable, Equatable {
    /// Which topic this is.
    public let topic: TopicName
    /// Number of partitions.
    public var partitions: Int
    /// Number of copies of each partition on a real cluster.
    public var replicationFactor: Int
    /// Topic-level Kafka configs (`cleanup.policy`, `retention.ms`, `min.insync.replicas`, …).
    public var topicConfigs: [String: String]

    /// Reads `<directory>/<topic>.properties`, then applies overrides from `environment`:
    /// `SHORTENER_TOPIC_<TOPIC>_<KEY>`, with the key's dots written as underscores, e.g.
    /// `SHORTENER_TOPIC_LINKS_RETENTION_MS=1000` or `SHORTENER_TOPIC_COUNTS_PARTITIONS=6`.
    public static func load(
        _ topic: TopicName, from directory: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> TopicDefinition {
        let path = URL(fileURLWithPath: directory).appendingPathComponent("\(topic.rawValue).properties").path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SettingError("cannot read topic definition \(path) (set --topics-dir or SHORTENER_TOPICS_DIR)")
        }
        let prefix = "SHORTENER_TOPIC_\(topic.rawValue.uppercased())_"
        let overrides = environment.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }.map { name, value in
            "\(PropertiesFile.key(ofVariable: name, after: prefix))=\(value)"
        }
        return try parse(([text] + overrides).joined(separator: "\n"), topic: topic, source: path)
    }

    /// Parses Kafka's `key=value` properties format (`#` comments, blank lines ignored).
    public static func parse(_ text: String, topic: TopicName, source: String = "topic definition") throws
        -> TopicDefinition
    {
        var definition = TopicDefinition(topic: topic, partitions: 0, replicationFactor: 0, topicConfigs: [:])
        for entry in try PropertiesFile.entries(text, source: source) {
            let (key, value) = (entry.key, entry.value)
            switch key {
            case "partitions":
                guard let count = Int(value), count > 0 else {
                    throw SettingError("\(source): partitions must be positive")
                }
                definition.partitions = count
            case "replication.factor":
                guard let count = Int(value), count > 0 else {
                    throw SettingError("\(source): replication.factor must be positive")
                }
                definition.replicationFactor = count
            case let key where key.hasPrefix("producer.") || key.hasPrefix("consumer."):
                throw SettingError(
                    "\(source):\(entry.line): '\(key)' is a client setting, read by no topic; client settings go to clients.properties"
                )
            default:
                definition.topicConfigs[key] = value
            }
        }
        guard definition.partitions > 0 else { throw SettingError("\(source): partitions is missing") }
        guard definition.replicationFactor > 0 else { throw SettingError("\(source): replication.factor is missing") }
        return definition
    }
}
