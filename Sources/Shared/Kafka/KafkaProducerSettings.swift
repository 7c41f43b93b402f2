/// Settings of a ``KafkaProducer``.
public struct KafkaProducerSettings: Sendable {
    /// Kafka bootstrap servers, comma separated.
    public var bootstrapServers: String
    /// librdkafka settings of this client (its block in `topics/clients.properties`).
    public var clientSettings: [String: String]
    /// How long a graceful shutdown waits for queued messages to be acknowledged.
    /// Default: 5000 ms.
    public var flushTimeoutMilliseconds: Int = 5000

    public init(bootstrapServers: String, clientSettings: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.clientSettings = clientSettings
    }

    /// The complete librdkafka configuration: idempotence is not negotiable (it implies
    /// `acks=all`, ordered retries and no duplicates from retries within one session).
    var librdkafkaSettings: [String: String] {
        var settings = clientSettings
        settings["bootstrap.servers"] = bootstrapServers
        settings["enable.idempotence"] = "true"
        return settings
    }
}
