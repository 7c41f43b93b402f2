import Foundation
import SharedConfiguration

/// The project's Kafka clients. Each has its own librdkafka settings in
/// `topics/clients.properties`, whatever topics it serves.
public enum KafkaClientRole: String, CaseIterable, Sendable {
    /// The outbox relay's producer: `<ns>-links`, `<ns>-milestones` and `<ns>-audit`.
    case relay
    /// Each replica's consumer of every partition of `<ns>-links`.
    case replicaLinks = "replica-links"
    /// Each replica's producer of click totals to `<ns>-counts`.
    case replicaCounts = "replica-counts"
    /// Each replica's producer of visits to `<ns>-visits`.
    case replicaVisits = "replica-visits"
    /// The master's consumer of `<ns>-counts` (the click aggregator).
    case masterCounts = "master-counts"
    /// The master's readers of `<ns>-visits`: the visits pages, the live streams and the export.
    case masterVisits = "master-visits"
    /// The master's reader of `<ns>-audit`, for `GET /api/audit`.
    case masterAudit = "master-audit"
    /// The notifier's consumer of `<ns>-links` and `<ns>-milestones`.
    case notifier
    /// The producer of dead letters to `<ns>-dlq`, in the master, the replicas and the notifier.
    case deadLetters = "dead-letters"

    /// The prefix of its variables: `SHORTENER_CLIENT_REPLICA_LINKS_` for `replica-links`.
    var environmentPrefix: String {
        "SHORTENER_CLIENT_" + rawValue.uppercased().replacingOccurrences(of: "-", with: "_") + "_"
    }
}

/// The librdkafka settings of every ``KafkaClientRole``, read from `clients.properties`
/// (`<client>.<librdkafka key>=<value>`). A key for a client that does not exist stops the
/// process at start; librdkafka itself rejects unknown keys and keys of the other kind of client
/// (a producer setting on a consumer) when the client is made.
public struct KafkaClientSettings: Sendable, Equatable {
    private var settings: [KafkaClientRole: [String: String]]

    /// The settings of one client (empty when the file has none for it).
    public subscript(role: KafkaClientRole) -> [String: String] { settings[role] ?? [:] }

    /// Reads `<directory>/clients.properties`, then applies overrides from `environment`:
    /// `SHORTENER_CLIENT_<CLIENT>_<KEY>`, the client's dashes and the key's dots written as
    /// underscores, e.g. `SHORTENER_CLIENT_RELAY_LINGER_MS=5`.
    public static func load(
        from directory: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> KafkaClientSettings {
        let path = URL(fileURLWithPath: directory).appendingPathComponent("clients.properties").path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SettingError(
                "cannot read the Kafka client settings \(path) (set --topics-dir or SHORTENER_TOPICS_DIR)")
        }
        var lines = [text]
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix("SHORTENER_CLIENT_") {
            guard let role = KafkaClientRole.allCases.first(where: { name.hasPrefix($0.environmentPrefix) }) else {
                throw SettingError(
                    "\(name) names no Kafka client; the clients are \(KafkaClientRole.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            lines.append(
                "\(role.rawValue).\(PropertiesFile.key(ofVariable: name, after: role.environmentPrefix))=\(value)")
        }
        return try parse(lines.joined(separator: "\n"), source: path)
    }

    /// Parses Kafka's `key=value` properties format (`#` comments, blank lines ignored), each
    /// key prefixed with its client's name.
    public static func parse(_ text: String, source: String = "clients.properties") throws -> KafkaClientSettings {
        var settings: [KafkaClientRole: [String: String]] = [:]
        for entry in try PropertiesFile.entries(text, source: source) {
            let (key, value) = (entry.key, entry.value)
            guard let dot = key.firstIndex(of: "."), let role = KafkaClientRole(rawValue: String(key[..<dot])) else {
                throw SettingError(
                    "\(source):\(entry.line): '\(key)' is read by no client; keys start with one of \(KafkaClientRole.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            settings[role, default: [:]][String(key[key.index(after: dot)...])] = value
        }
        return KafkaClientSettings(settings: settings)
    }
}
