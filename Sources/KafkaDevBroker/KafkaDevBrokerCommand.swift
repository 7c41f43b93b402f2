import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import SharedConfiguration
import KafkaDevCluster
import SharedKafka
import SharedService

/// The dev Kafka broker: librdkafka's in-memory mock cluster on loopback, with the project's
/// topics created from `topics/`, and a small HTTP control port for tests.
@main
struct KafkaDevBrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka-dev-broker",
        abstract: "Run an in-memory Kafka cluster for local runs and tests (not for production)."
    )

    @OptionGroup var common: CommonOptions

    /// Number of brokers in the cluster. Default: 1.
    @Option(help: "Number of brokers.") var brokers: Int = 1

    /// File that receives the bootstrap address once the cluster listens.
    /// Default: `.local/kafka.bootstrap`. Environment: `SHORTENER_KAFKA_BOOTSTRAP_FILE`.
    @Option(help: "File that receives the bootstrap address (env SHORTENER_KAFKA_BOOTSTRAP_FILE).")
    var bootstrapFile: String = EnvironmentDefaults.string("SHORTENER_KAFKA_BOOTSTRAP_FILE", ".local/kafka.bootstrap")

    /// Fixed loopback port clients bootstrap from, forwarded to the mock cluster (whose own
    /// port is random on every start), so that the bootstrap address survives restarts; 0 hands
    /// out the mock cluster's own address. Default: 0. Environment: `SHORTENER_KAFKA_DEV_PORT`.
    @Option(
        help: "Fixed bootstrap port, kept across restarts; 0: the cluster's random one (env SHORTENER_KAFKA_DEV_PORT).")
    var port: Int = EnvironmentDefaults.int("SHORTENER_KAFKA_DEV_PORT", 0)

    /// Loopback port of the control API; 0 picks a free one. Default: 0.
    @Option(help: "Port of the HTTP control API (0: any free port).") var controlPort: Int = 0

    /// File that receives the control API's address. Default: `<bootstrap-file>.control`.
    @Option(help: "File that receives the control API address.") var controlFile: String?

    /// Folder that keeps the namespace's topics and the master's and notifier's committed
    /// offsets across restarts (see ``DevBrokerMirror``); empty keeps everything in memory only.
    /// Default: empty. Environment: `SHORTENER_KAFKA_DEV_DATA_DIR`.
    @Option(
        help: "Folder that keeps the topics across restarts; empty: memory only (env SHORTENER_KAFKA_DEV_DATA_DIR).")
    var dataDir: String = EnvironmentDefaults.string("SHORTENER_KAFKA_DEV_DATA_DIR", "")

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535") }
        guard (0...65535).contains(controlPort) else { throw ValidationError("--control-port must be 0 to 65535") }
    }

    func run() async throws {
        let logger = try Observability.bootstrap(service: "kafka-dev-broker", options: common)
        let cluster = try KafkaMockCluster(brokers: brokers, logger: logger)
        defer { cluster.close() }
        try cluster.createTopic(DevBrokerMarker.topic, partitions: 1, replicationFactor: 1)
        let topics = try TopicName.allCases.map { try TopicDefinition.load($0, from: common.topicsDir) }
        let creator = TopicCreator(cluster: cluster, definitions: topics, brokers: brokers, logger: logger)
        let namespace = try common.resolvedNamespace()
        try creator.create(namespace: namespace)
        var backgroundServices: [any Service] = []
        var mirrorProblems: @Sendable () -> [String] = { [] }
        if !dataDir.isEmpty {
            let mirror = try DevBrokerMirror(
                directory: dataDir, namespace: namespace, definitions: topics,
                bootstrapServers: cluster.bootstrapServers, logger: logger)
            if mirror.stoppedUncleanly {
                logger.warning(
                    "The dev broker did not stop cleanly last time: the last 200 ms of messages may be missing; make run re-announces every link (master backfill)",
                    metadata: ["directory": "\(dataDir)"])
                _ = FileManager.default.createFile(atPath: "\(dataDir)/needs-backfill", contents: nil)
            }
            let restored = try await mirror.restore()
            logger.notice(
                "Topics kept on disk", metadata: ["directory": "\(dataDir)", "kafka.restored_messages": "\(restored)"])
            backgroundServices = try mirror.services()
            mirrorProblems = { mirror.problems }
        }
        var bootstrapServers = cluster.bootstrapServers
        if port != 0 {
            let forwarder = try await BootstrapForwarder(port: port, target: bootstrapServers, logger: logger)
            bootstrapServers = forwarder.address
            backgroundServices.insert(forwarder, at: 0)
        }
        try Self.writeAtomically(bootstrapServers, to: bootstrapFile)
        logger.info(
            "Dev Kafka broker listening",
            metadata: ["kafka.bootstrap": "\(bootstrapServers)", "kafka.cluster": "\(cluster.bootstrapServers)"])

        let router = Router()
        let problems = mirrorProblems
        // Not ready once a compacted topic lost history: the broker no longer holds every link.
        HealthController(readiness: { problems() }).addRoutes(to: router)
        router.post("namespaces/:namespace") { _, context in
            let namespace = try Namespace(try context.parameters.require("namespace"))
            try creator.create(namespace: namespace)
            return HTTPResponse.Status.noContent
        }
        router.post("brokers/:id/:state") { _, context in
            let id = try context.parameters.require("id", as: Int32.self)
            let state = try context.parameters.require("state")
            guard state == "up" || state == "down" else { throw HTTPError(.notFound) }
            try cluster.setBroker(id, up: state == "up")
            logger.notice("Broker state changed", metadata: ["kafka.broker": "\(id)", "kafka.state": "\(state)"])
            return HTTPResponse.Status.noContent
        }
        let controlFile = self.controlFile ?? "\(bootstrapFile).control"
        let app = HTTPServerSettings(port: controlPort).application(
            router: router,
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                try? Self.writeAtomically("127.0.0.1:\(port)", to: controlFile)
            }, logger: logger)
        try await ServiceRunner.run(
            backgroundServices + [app], shutdownTimeout: .seconds(common.shutdownTimeout), logger: logger)
    }

    /// Writes through a temporary file so readers never see half an address.
    static func writeAtomically(_ text: String, to path: String) throws {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// Creates a namespace's topics once, from their definitions.
final class TopicCreator: Sendable {
    let cluster: KafkaMockCluster
    let definitions: [TopicDefinition]
    let brokers: Int
    let logger: Logger
    private let created = NIOLockedValueBox<Set<Namespace>>([])

    init(cluster: KafkaMockCluster, definitions: [TopicDefinition], brokers: Int, logger: Logger) {
        self.cluster = cluster
        self.definitions = definitions
        self.brokers = brokers
        self.logger = logger
    }

    func create(namespace: Namespace) throws {
        try created.withLockedValue { created in
            guard !created.contains(namespace) else { return }
            for definition in definitions {
                let name = namespace.topic(definition.topic)
                try cluster.createTopic(
                    name, partitions: definition.partitions,
                    replicationFactor: min(definition.replicationFactor, brokers))
                logger.info(
                    "Created topic",
                    metadata: ["kafka.topic": "\(name)", "kafka.partitions": "\(definition.partitions)"])
            }
            created.insert(namespace)
        }
    }
}
