import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import SharedConfiguration
import SharedEvents
import SharedKafka
import SharedLinks

/// Publishes one ``VisitEvent`` per visit the replica answered to `<ns>-visits`, at most once:
/// the visit is only enqueued in the producer's bounded buffer, never waited for. An event that
/// finds the buffer full (the broker down for longer than the buffer lasts) is dropped and
/// counted in `visits_dropped_total`; one the broker never acknowledges within the message
/// timeout fails in the producer and is counted in `kafka_delivery_errors_total` for the topic.
/// The exact totals are the click counters', which wait in Redis instead.
final class VisitRecorder: Sendable {
    /// The producer, nil when visits are off.
    let producer: KafkaProducer?
    private let topic: String
    private let replicaID: String
    private let logger: Logger
    /// When a dropped visit was last logged: at most one warning a minute.
    private let lastDropLog = NIOLockedValueBox<ContinuousClock.Instant?>(nil)

    /// - Parameters:
    ///   - clientSettings: the `replica-visits` block of `clients.properties`.
    ///   - enabled: whether visits are published at all (`SHORTENER_VISITS`).
    init(
        enabled: Bool, namespace: Namespace, replicaID: String, kafkaBrokers: String,
        clientSettings: [String: String], logger: Logger
    ) throws {
        self.topic = namespace.visitsTopic
        self.replicaID = replicaID
        self.logger = logger
        guard enabled else {
            producer = nil
            return
        }
        var settings = clientSettings
        // The readers find a link's visits on the partition Kafka's default partitioner gives its
        // key: no file may change it.
        settings["partitioner"] = "murmur2_random"
        producer = try KafkaProducer(
            settings: KafkaProducerSettings(bootstrapServers: kafkaBrokers, clientSettings: settings),
            preparing: [topic], logger: logger)
    }

    /// Whether visits are published.
    var isOn: Bool { producer != nil }

    /// Publishes one visit, never waiting; a visit that cannot be enqueued is dropped and counted.
    func record(
        domain: String?, code: String, outcome: Int, decision: LinkRouting.Decision? = nil,
        attributes: ClickAttributes, at time: Date
    ) {
        guard let producer else { return }
        let event = VisitEvent(
            domain: domain, code: code, outcome: outcome, rule: decision?.rule, variant: decision?.variant,
            country: attributes.country, device: attributes.client.device, browser: attributes.client.browser,
            os: attributes.client.os, referrer: attributes.referrer, bot: attributes.isBot, replicaID: replicaID,
            at: time)
        do {
            try producer.send(unacknowledged: EventCodec.encode(event), topic: topic, key: event.key)
        } catch {
            Self.dropped.increment()
            let now = ContinuousClock.now
            let logs = lastDropLog.withLockedValue { last in
                guard last.map({ now - $0 >= .seconds(60) }) ?? true else { return false }
                last = now
                return true
            }
            if logs {
                logger.warning(
                    "Visit events are being dropped; the click totals stay exact",
                    metadata: ["error": "\(error.message)"])
            }
        }
    }

    /// `visits_dropped_total`: visits that found the producer's buffer full or closed.
    private static let dropped = Counter(label: "visits_dropped_total")
}
