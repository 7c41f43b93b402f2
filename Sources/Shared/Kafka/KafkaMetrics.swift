import Metrics
import NIOConcurrencyHelpers

/// The Kafka figures of the process: produced and failed deliveries per topic, and for each
/// consumer the messages it applied and its lag per partition.
enum KafkaMetrics {
    private static let produced = MetricHandles<String, Counter>()
    private static let failed = MetricHandles<String, Counter>()

    /// Counts one delivery report: `kafka_messages_produced_total` or `kafka_delivery_errors_total`.
    static func delivered(topic: String, succeeded: Bool) {
        if succeeded {
            produced.handle(for: topic) { Counter(label: "kafka_messages_produced_total", dimensions: [("topic", $0)]) }
                .increment()
        } else {
            failed.handle(for: topic) { Counter(label: "kafka_delivery_errors_total", dimensions: [("topic", $0)]) }
                .increment()
        }
    }
}

/// Metric handles made once per key: recording a figure per message then costs one dictionary
/// lookup, not a trip through the metrics factory's registry.
final class MetricHandles<Key: Hashable & Sendable, Handle: Sendable>: Sendable {
    private let handles = NIOLockedValueBox<[Key: Handle]>([:])

    func handle(for key: Key, make: (Key) -> Handle) -> Handle {
        handles.withLockedValue { handles in
            if let handle = handles[key] { return handle }
            let handle = make(key)
            handles[key] = handle
            return handle
        }
    }
}

/// One consumer's figures: `kafka_messages_consumed_total{topic,group}` and
/// `kafka_consumer_lag{topic,partition,group}` (messages between what the consumer applied and
/// the partition's high watermark, as librdkafka last saw it; no request to the broker).
final class ConsumerMetrics: Sendable {
    private let group: String
    /// Partition → next offset to apply, as far as this consumer has applied.
    private let positions = NIOLockedValueBox<[PartitionKey: Int64]>([:])
    private let lastRefresh = NIOLockedValueBox(ContinuousClock.now)
    private let consumed = MetricHandles<String, Counter>()
    private let lags = MetricHandles<PartitionKey, Gauge>()

    init(group: String) { self.group = group }

    /// Starts reporting the lag of freshly assigned partitions from where they start (replacing
    /// what an earlier assignment left).
    /// `highWatermarks` are the ends the assignment just read from the broker (librdkafka's
    /// cached ones are unknown until the first fetch).
    func assigned(_ start: [PartitionKey: Int64], highWatermarks: [PartitionKey: Int64]) {
        positions.withLockedValue { $0 = start }
        for (key, offset) in start {
            guard let high = highWatermarks[key] else { continue }
            lagGauge(key).record(max(0, high - offset))
        }
    }

    /// Records applied `messages`, `next` being each partition's next offset after them.
    func applied(_ messages: ArraySlice<KafkaMessage>, next: [PartitionKey: Int64], client: RDKafkaClient) {
        positions.withLockedValue { $0.merge(next) { max($0, $1) } }
        var perTopic: [String: Int] = [:]
        for message in messages { perTopic[message.topic, default: 0] += 1 }
        for (topic, count) in perTopic {
            consumed.handle(for: topic) {
                Counter(label: "kafka_messages_consumed_total", dimensions: [("topic", $0), ("group", group)])
            }.increment(by: count)
        }
        for (key, offset) in next { recordLag(key, next: offset, client: client) }
    }

    /// Refreshes the lag of every partition seen so far, at most once a second (for idle
    /// consumers, whose lag changes when messages arrive that they have not applied yet).
    func refreshLag(client: RDKafkaClient) {
        let due = lastRefresh.withLockedValue { last in
            guard ContinuousClock.now - last >= .seconds(1) else { return false }
            last = ContinuousClock.now
            return true
        }
        guard due else { return }
        for (key, offset) in positions.withLockedValue({ $0 }) { recordLag(key, next: offset, client: client) }
    }

    private func recordLag(_ key: PartitionKey, next: Int64, client: RDKafkaClient) {
        guard let marks = client.cachedWatermarks(topic: key.topic, partition: key.partition) else { return }
        lagGauge(key).record(max(0, marks.high - next))
    }

    private func lagGauge(_ key: PartitionKey) -> Gauge {
        lags.handle(for: key) {
            Gauge(
                label: "kafka_consumer_lag",
                dimensions: [("topic", $0.topic), ("partition", String($0.partition)), ("group", group)])
        }
    }
}
