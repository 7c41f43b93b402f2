import CRDKafka
import Logging
import SharedKafka

/// An in-memory Kafka cluster speaking the real protocol on loopback: librdkafka's mock
/// cluster (`rdkafka_mock.h`), what the dev broker serves. It cannot serve CreateTopics, so
/// topics are created here. A target of its own, beside `SharedKafka`'s C layer (whose handle it
/// borrows with `package` access), so that only the dev broker links it: no service carries
/// the mock cluster.
///
/// `@unchecked Sendable`: the mock cluster API is thread-safe (it posts operations to the
/// cluster's own thread); `close()` is called once by the owner after all other use.
public final class KafkaMockCluster: @unchecked Sendable {
    private let owner: RDKafkaClient
    private let cluster: OpaquePointer

    /// Starts a cluster of `brokers` brokers, each listening on a free loopback port.
    ///
    /// Its connections write every response at once (TCP_NODELAY, which the mock cluster takes
    /// from its owner's settings), as Apache Kafka's brokers do. With Nagle's algorithm, the
    /// last of a batch's three produce responses waited for the client's delayed ACK: 40 ms on
    /// every relay batch under load.
    public init(brokers: Int, logger: Logger) throws {
        owner = try RDKafkaClient(kind: .producer, settings: ["socket.nagle.disable": "true"], logger: logger)
        guard let cluster = rd_kafka_mock_cluster_new(owner.handle, Int32(brokers)) else {
            throw KafkaError.configuration("cannot start the mock Kafka cluster")
        }
        self.cluster = cluster
    }

    /// The bootstrap servers clients connect to, e.g. `127.0.0.1:41234`.
    public var bootstrapServers: String { String(cString: rd_kafka_mock_cluster_bootstraps(cluster)) }

    /// Creates a topic (replication is capped at the number of brokers by the caller).
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int) throws {
        let error = rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(replicationFactor))
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(error, context: "create topic \(name)") }
    }

    /// Takes a broker down (it closes connections and refuses requests) or brings it back up.
    public func setBroker(_ brokerID: Int32, up: Bool) throws {
        let error =
            up ? rd_kafka_mock_broker_set_up(cluster, brokerID) : rd_kafka_mock_broker_set_down(cluster, brokerID)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(error, context: "set broker \(brokerID)") }
    }

    /// Stops the cluster.
    public func close() {
        rd_kafka_mock_cluster_destroy(cluster)
        owner.destroy()
    }
}
