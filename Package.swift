// swift-tools-version:6.0
import Foundation
import PackageDescription

/// Settings every Swift target of the project shares.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

/// The test targets, declared only where `Tests/` exists: the Docker image's build context
/// leaves the tests out (`.dockerignore`), and a target whose folder is missing fails the
/// whole manifest.
var testTargets: [Target] {
    let sharedModules: [Target.Dependency] = [
        "SharedLinks", "SharedJSON", "SharedEvents", "SharedConfiguration", "SharedResilience", "SharedKafka",
        "SharedPostgres", "SharedRedis", "SharedService", "SharedOutbound", "SharedPasswords",
    ]
    guard FileManager.default.fileExists(atPath: Context.packageDirectory + "/Tests") else { return [] }
    return [
        .target(
            name: "TestSupport",
            dependencies: sharedModules + [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(name: "SharedTests", dependencies: sharedModules + ["TestSupport"], swiftSettings: strictSettings),
        .testTarget(
            name: "MasterTests",
            dependencies: sharedModules + [
                "Master", "TestSupport", .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: strictSettings),
        .testTarget(name: "NotifierTests", dependencies: ["Notifier"], swiftSettings: strictSettings),
        .testTarget(name: "ReplicaTests", dependencies: ["Replica", "SharedLinks"], swiftSettings: strictSettings),
        .testTarget(
            name: "IntegrationTests",
            dependencies: sharedModules + [
                "TestSupport", "Master", "Outbox", "Replica", "Notifier", "CRDKafka",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: sharedModules + [
                "TestSupport", "Master",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings),
    ]
}

let package = Package(
    name: "shortener",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "master", targets: ["Master"]),
        .executable(name: "outbox", targets: ["Outbox"]),
        .executable(name: "replica", targets: ["Replica"]),
        .executable(name: "notifier", targets: ["Notifier"]),
        .executable(name: "kafka-dev-broker", targets: ["KafkaDevBroker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    ],
    targets: [
        // C libraries from Debian, each reached only through its wrapper layer.
        .systemLibrary(name: "CRDKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        // No pkgConfig: hiredis's .pc adds -D_FILE_OFFSET_BITS=64, which SwiftPM refuses with a
        // warning; its headers are in the default include path and the module map links it.
        .systemLibrary(name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CGeoIP", providers: [.apt(["libgeoip-dev"])]),
        .systemLibrary(name: "CQREncode", providers: [.apt(["libqrencode-dev"])]),
        .systemLibrary(name: "CPNG", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CArgon2", pkgConfig: "libargon2", providers: [.apt(["libargon2-dev"])]),

        // Sources/Shared: one module per concern. Dependencies run one way, from the values at the
        // bottom to the clients and the service frame at the top; no module imports a service.
        .target(name: "SharedJSON", path: "Sources/Shared/JSON", swiftSettings: strictSettings),
        .target(
            name: "SharedLinks", dependencies: ["SharedJSON"], path: "Sources/Shared/Links",
            swiftSettings: strictSettings),
        .target(
            name: "SharedEvents",
            dependencies: ["SharedLinks", "SharedJSON", .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/Shared/Events", swiftSettings: strictSettings),
        .target(
            name: "SharedConfiguration",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Shared/Configuration", swiftSettings: strictSettings),
        .target(
            name: "SharedResilience",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/Shared/Resilience", swiftSettings: strictSettings),
        .target(
            name: "SharedKafka",
            dependencies: [
                "CRDKafka", "SharedConfiguration", "SharedJSON", "SharedEvents", "SharedResilience",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Shared/Kafka", swiftSettings: strictSettings),
        .target(
            name: "SharedPostgres",
            dependencies: [
                "SharedConfiguration", "SharedEvents", "SharedResilience",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Sources/Shared/Postgres", swiftSettings: strictSettings),
        .target(
            name: "SharedRedis",
            dependencies: [
                "CHiredis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/Shared/Redis", swiftSettings: strictSettings),
        .target(
            name: "SharedService",
            dependencies: [
                "SharedConfiguration", "SharedJSON", "SharedLinks", "SharedResilience",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
            ],
            path: "Sources/Shared/Service", swiftSettings: strictSettings),

        .target(
            name: "SharedPasswords",
            dependencies: [
                "CArgon2",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/Shared/Passwords", swiftSettings: strictSettings),
        .target(
            name: "SharedOutbound",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/Shared/Outbound", swiftSettings: strictSettings),

        // The services: each a thin composition of the Shared modules, none importing another.
        .executableTarget(
            name: "Master",
            dependencies: [
                "CQREncode", "CPNG", "SharedLinks", "SharedJSON", "SharedEvents", "SharedConfiguration",
                "SharedResilience", "SharedPasswords",
                "SharedKafka",
                "SharedPostgres", "SharedService", "SharedOutbound",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strictSettings),
        .executableTarget(
            name: "Outbox",
            dependencies: [
                "SharedEvents", "SharedConfiguration", "SharedResilience", "SharedKafka", "SharedPostgres",
                "SharedService",
            ],
            swiftSettings: strictSettings),
        .executableTarget(
            name: "Replica",
            dependencies: [
                "CGeoIP", "SharedLinks", "SharedJSON", "SharedEvents", "SharedConfiguration", "SharedResilience",
                "SharedKafka",
                "SharedRedis", "SharedService", "SharedPasswords",
            ],
            swiftSettings: strictSettings),
        .executableTarget(
            name: "Notifier",
            dependencies: [
                "SharedEvents", "SharedConfiguration", "SharedResilience", "SharedKafka", "SharedService",
                "SharedOutbound",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings),
        // librdkafka's mock cluster, wrapped beside SharedKafka's C layer: only the dev broker links it.
        .target(
            name: "KafkaDevCluster",
            dependencies: ["CRDKafka", "SharedKafka", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings),
        .executableTarget(
            name: "KafkaDevBroker",
            dependencies: [
                "KafkaDevCluster", "SharedConfiguration", "SharedKafka", "SharedService",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings),
    ] + testTargets
)
