/// Settings of a ``KafkaProducer``.
public struct KafkaProducerSettings: Sendable {
    /// What a producer promises about each message it accepts.
    public enum Delivery: Sendable {
        /// Idempotent: acknowledged by every in-sync replica (`acks=all`), retried in order, no
        /// duplicates from retries within one session. Every producer whose messages matter.
        case exactlyOncePerSession
        /// Acknowledged by the partition's leader alone (`acks=1`) and never retried: a batch the
        /// broker refuses is lost instead of sent again, so what arrives is in order and never
        /// twice. For events that may be lost by design (visits), where idempotence's
        /// bookkeeping costs the sender CPU for a promise nobody relies on.
        case atMostOnce
    }

    /// Kafka bootstrap servers, comma separated.
    public var bootstrapServers: String
    /// librdkafka settings of this client (its block in `topics/clients.properties`).
    public var clientSettings: [String: String]
    /// What each message is promised. Default: ``Delivery/exactlyOncePerSession``.
    public var delivery: Delivery
    /// How long a graceful shutdown waits for queued messages to be acknowledged.
    /// Default: 5000 ms.
    public var flushTimeoutMilliseconds: Int = 5000

    public init(
        bootstrapServers: String, clientSettings: [String: String] = [:],
        delivery: Delivery = .exactlyOncePerSession
    ) {
        self.bootstrapServers = bootstrapServers
        self.clientSettings = clientSettings
        self.delivery = delivery
    }

    /// The complete librdkafka configuration: the delivery promise is set here, never by a file.
    var librdkafkaSettings: [String: String] {
        var settings = clientSettings
        settings["bootstrap.servers"] = bootstrapServers
        switch delivery {
        case .exactlyOncePerSession:
            settings["enable.idempotence"] = "true"
        case .atMostOnce:
            settings["enable.idempotence"] = "false"
            settings["acks"] = "1"
            settings["message.send.max.retries"] = "0"
        }
        return settings
    }
}
