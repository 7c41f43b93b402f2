import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import SharedConfiguration
import SharedKafka
import SharedPostgres
import SharedResilience

/// The infrastructure `make test` started (Postgres, two Redis servers, the dev Kafka broker),
/// found through environment variables, plus helpers that give each test its own namespace.
public enum TestStack {
    /// A variable `scripts/test.sh` sets; a clear failure when the tests run without it.
    public static func environment(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw SettingError(
                "\(name) is not set: run the tests with `make test`, which starts Postgres, Redis and Kafka")
        }
        return value
    }

    public static var kafkaBrokers: String { get throws { try environment("SHORTENER_TEST_KAFKA_BROKERS") } }
    public static var postgresPort: Int { get throws { Int(try environment("SHORTENER_TEST_PG_PORT"))! } }
    /// The two Redis ports, one per replica.
    public static var redisPorts: [Int] {
        get throws { try environment("SHORTENER_TEST_REDIS_PORTS").split(separator: ",").map { Int($0)! } }
    }
    /// Folder of the built executables.
    public static var binaries: String { get throws { try environment("SHORTENER_TEST_BIN") } }
    /// The project's root folder (topics/, migrations/).
    public static var root: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }
    public static var topicsDirectory: String { "\(root)/topics" }
    /// The Kafka client settings the services use (`topics/clients.properties`).
    public static var kafkaClients: KafkaClientSettings {
        get throws { try KafkaClientSettings.load(from: topicsDirectory, environment: [:]) }
    }

    public static let logger: Logger = {
        var logger = Logger(label: "test")
        // SHORTENER_TEST_LOG_LEVEL=debug shows what the components under test do.
        logger.logLevel = EnvironmentDefaults.logLevel("SHORTENER_TEST_LOG_LEVEL", .warning)
        return logger
    }()

    /// The Postgres breaker's settings in tests: the integration round runs some seventy suites
    /// at once on two cores, where a statement (or the first connection of a pool) can take
    /// longer than the services' 2 s; a call timing out there says the machine is busy, not
    /// that the code under test is wrong.
    public static var postgresBreakerSettings: CircuitBreaker.Settings {
        var settings = CircuitBreaker.Settings()
        settings.callTimeout = .seconds(15)
        return settings
    }

    /// A Postgres breaker for tests, with ``postgresBreakerSettings``.
    public static func postgresBreaker() -> CircuitBreaker {
        .postgres(settings: postgresBreakerSettings, logger: logger)
    }

    /// A fresh namespace: its own topics on the dev broker and its own migrated database.
    public static func makeNamespace() async throws -> Namespace {
        let letters = "abcdefghijklmnopqrstuvwxyz0123456789"
        let namespace = try Namespace("t" + String((0..<10).map { _ in letters.randomElement()! }))
        let control = try environment("SHORTENER_TEST_KAFKA_CONTROL")
        let reply = try await TestHTTP.post("http://\(control)/namespaces/\(namespace.name)", body: "")
        guard reply.status == 204 else { throw SettingError("dev broker answered \(reply.status): \(reply.body)") }
        let postgres = try postgresConfiguration(database: "postgres")
        try await Migrator.createDatabaseIfMissing(namespace.databaseName, maintenance: postgres, logger: logger)
        try await PostgresClient.withRunning(
            try postgresConfiguration(database: namespace.databaseName), logger: logger
        ) {
            try await Migrator(directory: "\(root)/migrations", logger: logger).up($0)
        }
        return namespace
    }

    /// A Postgres breaker that allows 30 s per call instead of 2 s: for tests whose writers queue
    /// on each other's row locks by design, on a machine busy with the whole suite.
    public static func patientPostgresBreaker() -> CircuitBreaker {
        var settings = CircuitBreaker.Settings()
        settings.callTimeout = .seconds(30)
        return .postgres(settings: settings, logger: logger)
    }

    public static func postgresConfiguration(database: String) throws -> PostgresClient.Configuration {
        PostgresClient.Configuration(
            host: "127.0.0.1", port: try postgresPort, username: "postgres",
            password: nil, database: database, tls: .disable)
    }

    /// A loopback port nobody listens on right now, below the kernel's ephemeral range
    /// (32768-60999 here): a port the kernel handed out could be taken as the local end of one of
    /// the many outgoing connections of a test run before the server under test binds it.
    ///
    /// A port is handed out once per test process: suites run in parallel, and two of them
    /// drawing the same free port before either service bound it made one service fail to bind
    /// while the other answered its health checks.
    public static func freePort() throws -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 10_000...32_000)
            guard handedOut.withLockedValue({ $0.insert(port).inserted }) else { continue }
            if canBind(port) { return port }
        }
        throw SettingError("cannot find a free port")
    }

    /// Ports ``freePort()`` has returned (or found taken) in this process.
    private static let handedOut = NIOLockedValueBox<Set<Int>>([])

    private static func canBind(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(descriptor, generic, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

/// A dead-letter queue for a test's consumers; run `producer` alongside them.
extension DeadLetterQueue {
    /// A dead-letter queue on the test stack's broker, for consumers of `group`.
    public static func test(_ namespace: Namespace, group: String) throws -> DeadLetterQueue {
        try DeadLetterQueue(
            bootstrapServers: try TestStack.kafkaBrokers, clients: try TestStack.kafkaClients,
            breaker: .kafka(logger: TestStack.logger), namespace: namespace, consumerGroup: group,
            logger: TestStack.logger)
    }
}
