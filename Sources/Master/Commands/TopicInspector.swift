import SharedConfiguration
import SharedEvents
import SharedKafka

/// What `master topics` reports and does, apart from printing: the project's topics as the
/// cluster has them, how far each consumer group has read them, and how they differ from
/// their definitions in `topics/`.
struct TopicInspector: Sendable {
    let admin: KafkaAdmin
    let namespace: Namespace
    let definitions: [TopicDefinition]

    /// Where the consumer groups of a report come from.
    enum GroupSource: String, Encodable {
        /// The cluster listed them (ListGroups).
        case cluster
        /// The broker cannot list groups (the dev broker): the project's own group names.
        case project
    }

    /// The project's topics with their partitions and the lag of every group reading them.
    struct Report: Encodable {
        var groupSource: GroupSource
        var topics: [TopicReport]
        /// Project topics the cluster does not have.
        var missing: [String]
    }

    /// One topic and the groups that committed offsets on it.
    struct TopicReport: Encodable {
        var topic: KafkaTopicDescription
        var groups: [KafkaGroupLag]
    }

    /// What `apply` found or did for one topic.
    enum Outcome: Equatable {
        case created
        case unchanged
        case drifted([String])
        case failed(String)
    }

    /// The result of `apply`.
    struct ApplyResult {
        var outcomes: [(topic: String, outcome: Outcome)]
        /// Set on a broker that offers no topic administration: the dev broker.
        var brokerManagesTopics: Bool
        var hasDrift: Bool { outcomes.contains { if case .drifted = $0.outcome { true } else { false } } }
        var hasFailures: Bool { outcomes.contains { if case .failed = $0.outcome { true } else { false } } }
    }

    /// The consumer groups this project runs, for brokers that cannot list groups: the master,
    /// the notifier, `tail`, and the replicas named in `replicaIDs`.
    func projectGroups(replicaIDs: [String]) -> [String] {
        [namespace.masterGroup, namespace.notifierGroup, "\(namespace.name)-tail"]
            + replicaIDs.map { namespace.replicaGroup(replicaID: $0) }
    }

    /// Describes `topics` (all project topics when empty) with the lag of every group that
    /// committed offsets on them; groups are listed by the cluster, or else taken from
    /// ``projectGroups(replicaIDs:)``. `extraGroups` are reported even without offsets.
    func describe(_ topics: [TopicName], replicaIDs: [String], extraGroups: [String]) async throws -> Report {
        let wanted = (topics.isEmpty ? TopicName.allCases : topics).map { namespace.topic($0) }
        let cluster = try await admin.topics(named: Set(wanted))
        var groups: [String]
        var source = GroupSource.cluster
        do {
            groups = try await admin.consumerGroups().filter { $0.hasPrefix("\(namespace.name)-") }
        } catch let error as KafkaError where error.isUnsupportedByBroker {
            groups = projectGroups(replicaIDs: replicaIDs)
            source = .project
        }
        groups = Array(Set(groups + extraGroups)).sorted()
        let described = cluster.filter { wanted.contains($0.name) }
            .sorted { wanted.firstIndex(of: $0.name) ?? 0 < wanted.firstIndex(of: $1.name) ?? 0 }
        var lags: [String: [KafkaGroupLag]] = [:]
        for group in groups {
            for lag in try await admin.lag(of: group, on: described)
            where lag.hasCommitted || extraGroups.contains(group) {
                lags[lag.topic, default: []].append(lag)
            }
        }
        let reports = described.map { TopicReport(topic: $0, groups: lags[$0.name] ?? []) }
        let present = Set(cluster.map(\.name))
        return Report(groupSource: source, topics: reports, missing: wanted.filter { !present.contains($0) })
    }

    /// Every topic of the cluster, the project's first.
    func list(all: Bool) async throws -> [KafkaTopicDescription] {
        let project = Set(TopicName.allCases.map { namespace.topic($0) })
        return try await admin.topics(named: all ? nil : project)
            .sorted { (project.contains($0.name) ? 0 : 1, $0.name) < (project.contains($1.name) ? 0 : 1, $1.name) }
    }

    /// Creates the project's missing topics (unless `dryRun`) and compares the existing ones
    /// with their definitions: partition count, replication factor and every topic config.
    /// On the dev broker (it announces itself with ``DevBrokerMarker.topic``) nothing is
    /// created: it creates the project's topics itself and offers no admin API.
    func apply(dryRun: Bool) async throws -> ApplyResult {
        let names = Set(definitions.map { namespace.topic($0.topic) } + [DevBrokerMarker.topic])
        let cluster = Dictionary(uniqueKeysWithValues: try await admin.topics(named: names).map { ($0.name, $0) })
        let isDevBroker = cluster[DevBrokerMarker.topic] != nil
        var result = ApplyResult(outcomes: [], brokerManagesTopics: isDevBroker)
        let missing = definitions.filter { cluster[namespace.topic($0.topic)] == nil }
        let created: [String: KafkaError?] =
            missing.isEmpty || dryRun || isDevBroker
            ? [:] : try await admin.createTopics(missing.map { (namespace.topic($0.topic), $0) })
        for definition in definitions {
            let name = namespace.topic(definition.topic)
            guard let topic = cluster[name] else {
                let outcome: Outcome =
                    switch created[name] {
                    case .some(.none): .created
                    case .some(.some(let error)): .failed(error.message)
                    case .none:
                        .drifted([
                            isDevBroker
                                ? "missing: the dev broker creates a namespace's topics on POST /namespaces/\(namespace) to its control port"
                                : "missing (would be created)"
                        ])
                    }
                result.outcomes.append((name, outcome))
                continue
            }
            var differences: [String] = []
            if topic.partitions.count != definition.partitions {
                differences.append(
                    "partitions: cluster has \(topic.partitions.count), topics/ says \(definition.partitions)"
                        + (topic.partitions.count < definition.partitions
                            ? " (raise with kafka-topics.sh --alter --partitions \(definition.partitions); keys move to other partitions)"
                            : " (Kafka cannot remove partitions)"))
            }
            if !isDevBroker {
                if topic.replicationFactor != definition.replicationFactor {
                    differences.append(
                        "replication.factor: cluster has \(topic.replicationFactor), topics/ says \(definition.replicationFactor)"
                    )
                }
                let configs = try await admin.configs(of: name)
                for (key, wanted) in definition.topicConfigs.sorted(by: { $0.key < $1.key })
                where configs[key] != wanted {
                    differences.append("\(key): cluster has \(configs[key] ?? "nothing"), topics/ says \(wanted)")
                }
            }
            result.outcomes.append((name, differences.isEmpty ? .unchanged : .drifted(differences)))
        }
        return result
    }
}
