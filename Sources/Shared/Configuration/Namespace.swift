/// The one setting that prefixes everything shared with others: topics, consumer groups,
/// Redis keys and the Postgres database name.
public struct Namespace: Sendable, Hashable, CustomStringConvertible {
    /// The prefix itself, e.g. `shortener`.
    public let name: String

    /// Validates the prefix: it becomes part of topic, database and key names, so it is
    /// limited to lowercase letters, digits, `_` and `-`, starting with a letter.
    public init(_ name: String) throws(SettingError) {
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x5F || byte == 0x2D
        }
        guard !name.isEmpty, name.count <= 48, allowed, name.utf8.first.map({ $0 >= 0x61 && $0 <= 0x7A }) == true
        else {
            throw SettingError(
                "namespace '\(name)' must be 1-48 characters of a-z, 0-9, '_' or '-', starting with a letter")
        }
        self.name = name
    }

    public var description: String { name }

    /// The topic carrying link events: `<ns>-links`.
    public var linksTopic: String { topic(.links) }
    /// The topic carrying click-count events: `<ns>-counts`.
    public var countsTopic: String { topic(.counts) }
    /// The dead-letter topic for unusable messages of every project topic: `<ns>-dlq`.
    public var deadLetterTopic: String { topic(.dlq) }
    /// The topic of click milestones: `<ns>-milestones`.
    public var milestonesTopic: String { topic(.milestones) }
    /// The topic of visits: `<ns>-visits`.
    public var visitsTopic: String { topic(.visits) }

    /// The full name of one of the project's topics.
    public func topic(_ topic: TopicName) -> String { "\(name)-\(topic.rawValue)" }

    /// The consumer group of one replica: `<ns>-replica-<id>`.
    public func replicaGroup(replicaID: String) -> String { "\(name)-replica-\(replicaID)" }
    /// The master's counts aggregator group: `<ns>-master`.
    public var masterGroup: String { "\(name)-master" }
    /// The notifier's group: `<ns>-notifier`.
    public var notifierGroup: String { "\(name)-notifier" }

    /// A Redis key under this namespace: `<ns>:<suffix>`.
    public func redisKey(_ suffix: String) -> String { "\(name):\(suffix)" }

    /// The Postgres database holding this namespace's tables (its name is the namespace).
    public var databaseName: String { name }
}

/// The project's topics, by the suffix that follows the namespace.
public enum TopicName: String, Sendable, CaseIterable {
    /// Link events (created, deleted); compacted, the durable state of every link.
    case links
    /// Click-count events from the replicas to the master.
    case counts
    /// Messages that a consumer could not use, with headers saying where from and why.
    case dlq
    /// Click milestones of links, from the master's totals, for the notifier.
    case milestones
    /// Every change made through the master, with who made it: the audit trail.
    case audit
    /// Every visit the replicas answered (redirects, `404`s, `410`s): at-most-once, kept a week.
    case visits
}

/// A setting that has an unusable value; the message names the setting and the problem.
public struct SettingError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
