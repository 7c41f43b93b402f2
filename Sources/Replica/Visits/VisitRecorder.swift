import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import SharedConfiguration
import SharedEvents
import SharedKafka
import SharedLinks

/// Publishes one ``VisitEvent`` per visit the replica answered to `<ns>-visits`, at most once.
///
/// A redirect only makes the event and stages it (``KafkaStagedSender``): a thread of the
/// recorder's own encodes the staged events every few milliseconds and hands them to a producer
/// that sends at most once (``KafkaProducerSettings/Delivery/atMostOnce``). Nothing waits for a
/// visit. An event is dropped, and counted in `visits_dropped_total`, when the staged events are
/// at their bound (the thread starved of CPU) or the producer's buffer is full (the broker down
/// for longer than the buffer lasts); one the broker does not acknowledge within the message
/// timeout fails in the producer and is counted in `kafka_delivery_errors_total` for the topic.
/// The exact totals are the click counters', which wait in Redis instead.
final class VisitRecorder: Sendable {
    /// Most events staged and not yet encoded: a second of redirects at full speed on two
    /// cores; about 5 MiB, and at most about 12 MiB with every referrer host and code at its
    /// longest (253 and 64 characters).
    static let defaultStagedLimit = 20_000

    /// The producer, nil when visits are off.
    let producer: KafkaProducer?
    /// The sender of the staged events, nil when visits are off. Runs after ``producer`` in the
    /// replica's services, so that it stops first and the producer flushes what it sent last.
    let sender: KafkaStagedSender<VisitEvent>?
    private let replicaID: String
    private let drops: Drops

    /// - Parameters:
    ///   - clientSettings: the `replica-visits` block of `clients.properties`.
    ///   - enabled: whether visits are published at all (`SHORTENER_VISITS`).
    ///   - stagedLimit: most events waiting for the sender's thread.
    init(
        enabled: Bool, namespace: Namespace, replicaID: String, kafkaBrokers: String,
        clientSettings: [String: String], stagedLimit: Int = defaultStagedLimit, logger: Logger
    ) throws {
        self.replicaID = replicaID
        let drops = Drops(logger: logger)
        self.drops = drops
        guard enabled else {
            (producer, sender) = (nil, nil)
            return
        }
        var settings = clientSettings
        // The readers find a link's visits on the partition Kafka's default partitioner gives its
        // key: no file may change it.
        settings["partitioner"] = "murmur2_random"
        let topic = namespace.visitsTopic
        let producer = try KafkaProducer(
            settings: KafkaProducerSettings(
                bootstrapServers: kafkaBrokers, clientSettings: settings, delivery: .atMostOnce),
            preparing: [topic], logger: logger)
        self.producer = producer
        sender = KafkaStagedSender(
            producer: producer, topic: topic, limit: stagedLimit,
            message: { event in (event.key, EventCodec.encode(event)) },
            refused: { error in drops.record(error.message) })
    }

    /// Whether visits are published.
    var isOn: Bool { sender != nil }

    /// Visits this recorder dropped since it started.
    var droppedVisits: Int { drops.count.withLockedValue { $0 } }

    /// Publishes one visit, never waiting; a visit that cannot be staged is dropped and counted.
    func record(
        domain: String?, code: String, outcome: Int, decision: LinkRouting.Decision? = nil,
        attributes: ClickAttributes, at time: Date
    ) {
        guard let sender else { return }
        let event = VisitEvent(
            domain: domain, code: code, outcome: outcome, rule: decision?.rule, variant: decision?.variant,
            country: attributes.country, device: attributes.client.device, browser: attributes.client.browser,
            os: attributes.client.os, referrer: attributes.referrer, bot: attributes.isBot, replicaID: replicaID,
            at: time)
        if !sender.stage(event) {
            drops.record("\(sender.limit) visits are waiting to be sent, or the replica is stopping")
        }
    }

    /// The visits a recorder dropped: counted, and warned about at most once a minute.
    private final class Drops: Sendable {
        /// Dropped since start: what `visits_dropped_total` counts, for this recorder alone.
        let count = NIOLockedValueBox(0)
        private let lastLog = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
        private let logger: Logger

        init(logger: Logger) { self.logger = logger }

        func record(_ reason: String) {
            Self.total.increment()
            count.withLockedValue { $0 += 1 }
            let now = ContinuousClock.now
            let logs = lastLog.withLockedValue { last in
                guard last.map({ now - $0 >= .seconds(60) }) ?? true else { return false }
                last = now
                return true
            }
            if logs {
                logger.warning(
                    "Visit events are being dropped; the click totals stay exact", metadata: ["reason": "\(reason)"])
            }
        }

        /// `visits_dropped_total`: visits that found the staged events at their bound, or the
        /// producer's buffer full or closed.
        private static let total = Counter(label: "visits_dropped_total")
    }
}
