import Foundation
import SharedConfiguration

/// The real executables of one namespace, wired to the test stack (or to a test's private
/// Postgres, Redis or broker), each on a free HTTP port.
public struct TestDeployment: Sendable {
    public let namespace: Namespace
    public var postgresPort: Int
    public var kafkaBrokers: String
    /// Extra environment for every service.
    public var environment: [String: String] = [:]

    public init(namespace: Namespace, postgresPort: Int? = nil, kafkaBrokers: String? = nil) throws {
        self.namespace = namespace
        self.postgresPort = try postgresPort ?? TestStack.postgresPort
        self.kafkaBrokers = try kafkaBrokers ?? TestStack.kafkaBrokers
    }

    private var common: [String: String] {
        [
            "SHORTENER_NAMESPACE": namespace.name, "SHORTENER_PG_PORT": String(postgresPort),
            "SHORTENER_KAFKA_BROKERS": kafkaBrokers, "SHORTENER_LOG_LEVEL": "info",
            "SHORTENER_CLICK_REPORT_INTERVAL": "1", "SHORTENER_SHUTDOWN_TIMEOUT": "10",
            // Load and fault tests create fast from one address; the limit has its own test.
            "SHORTENER_CREATE_RATE_LIMIT": "0",
        ].merging(environment) { $1 }
    }

    /// A running service with the port it serves HTTP on.
    public struct Running: Sendable {
        public let process: ServiceProcess
        public let port: Int
        public var url: String { "http://127.0.0.1:\(port)" }

        /// Waits until `/health/<probe>` answers 200 (see ``ServiceProcess/startupTimeout``).
        public func waitUntilHealthy(_ probe: String = "ready", timeout: Duration = ServiceProcess.startupTimeout)
            async throws
        {
            try await process.waitUntilHealthy("\(url)/health/\(probe)", timeout: timeout)
        }
    }

    private func start(_ name: String, _ arguments: [String], extra: [String: String] = [:]) throws -> Running {
        let port = try TestStack.freePort()
        let process = try ServiceProcess(
            name, arguments: arguments + ["--http-port", String(port)], environment: common.merging(extra) { $1 })
        return Running(process: process, port: port)
    }

    /// `master migrate up`, waiting for it to finish.
    public func migrate() async throws {
        let process = try ServiceProcess("master", arguments: ["migrate", "up"], environment: common)
        let status = try await process.waitForExit()
        guard status == 0 else { throw ServiceFailure("migrate exited with \(status):\n\(process.logTail())") }
    }

    /// `master <arguments>` as a command of this deployment: its exit status and its output.
    public func masterCommand(_ arguments: [String], timeout: Duration = .seconds(60)) async throws -> (
        status: Int32, output: String
    ) {
        let process = try ServiceProcess("master", arguments: arguments, environment: common)
        let status = try await process.waitForExit(timeout: timeout)
        return (status, process.logTail(lines: 100_000))
    }

    public func master() throws -> Running { try start("master", ["serve"]) }
    public func outbox() throws -> Running { try start("outbox", []) }
    public func notifier() throws -> Running { try start("notifier", []) }

    /// A replica with id `id` on the Redis at `redisPort`, with `environment` of its own.
    public func replica(_ id: String, redisPort: Int, environment: [String: String] = [:]) throws -> Running {
        try start(
            "replica", [],
            extra: environment.merging(["SHORTENER_REPLICA_ID": id, "SHORTENER_REDIS_PORT": String(redisPort)]) { $1 })
    }
}

/// A master, a relay and one replica (on the first test Redis) of a fresh namespace, started
/// and ready, with extra environment for all three.
public struct ServiceTrio: Sendable {
    /// The deployment the three run in (for its commands).
    public let deployment: TestDeployment
    public let master: TestDeployment.Running
    public let outbox: TestDeployment.Running
    public let replica: TestDeployment.Running
    /// Their own dev broker, when they were given one.
    public let broker: PrivateBroker?

    /// With `ownBroker`, on a dev broker of their own instead of the test stack's (for tests
    /// whose traffic the other suites' shared broker should not have to carry).
    public init(environment: [String: String] = [:], ownBroker: Bool = false) async throws {
        let namespace = try await TestStack.makeNamespace()
        broker = ownBroker ? try await PrivateBroker(namespace: namespace) : nil
        var deployment = try TestDeployment(namespace: namespace, kafkaBrokers: broker?.bootstrapServers)
        deployment.environment = environment
        self.deployment = deployment
        master = try deployment.master()
        outbox = try deployment.outbox()
        replica = try deployment.replica("a", redisPort: try TestStack.redisPorts[0])
        for service in [master, outbox, replica] { try await service.waitUntilHealthy() }
    }

    public func stop() async {
        for service in [replica, outbox, master] { _ = await service.process.stop() }
        await broker?.remove()
    }
}
