import Foundation
import SharedConfiguration
import SharedPostgres
import SharedService
import TestSupport
@testable import Master
@testable import Outbox
@testable import Replica

extension MasterApplication.Configuration {
    /// The master as `master serve` composes it, on the test stack's Postgres and broker, with
    /// no rate limit unless one is given.
    static func test(
        _ namespace: Namespace, port: Int = 0, createRateLimit: RateLimiter.Settings = .off,
        webDirectory: String? = nil
    ) throws -> Self {
        .init(
            namespace: namespace, kafkaBrokers: try TestStack.kafkaBrokers, clients: try TestStack.kafkaClients,
            postgres: PostgresEndpoint(
                try TestStack.postgresConfiguration(database: namespace.databaseName), tls: .disable),
            publicBaseURL: "http://short.test", http: HTTPServerSettings(port: port), createRateLimit: createRateLimit,
            webDirectory: webDirectory, postgresBreaker: TestStack.postgresBreakerSettings)
    }

    /// The repository's `web/` folder: the web app as `make run` serves it.
    static var repositoryWebDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("web").path
    }
}

extension OutboxApplication.Configuration {
    /// The relay as `outbox` composes it, on the test stack, its health server on a free port.
    static func test(_ namespace: Namespace, relay: OutboxRelay.Settings, kafkaBrokers: String? = nil) throws -> Self {
        .init(
            namespace: namespace, kafkaBrokers: try kafkaBrokers ?? TestStack.kafkaBrokers,
            clients: try TestStack.kafkaClients,
            postgres: try TestStack.postgresConfiguration(database: namespace.databaseName), relay: relay,
            http: HTTPServerSettings(port: try TestStack.freePort()))
    }
}

extension ReplicaApplication.Configuration {
    /// A replica as `replica` composes it, on the test stack's broker and a free HTTP port.
    static func test(
        _ namespace: Namespace, replicaID: String, port: Int, reportInterval: Duration, kafkaBrokers: String? = nil
    ) throws -> Self {
        .init(
            namespace: namespace, replicaID: replicaID, kafkaBrokers: try kafkaBrokers ?? TestStack.kafkaBrokers,
            clients: try TestStack.kafkaClients, clickReportInterval: reportInterval,
            http: HTTPServerSettings(port: port))
    }
}
