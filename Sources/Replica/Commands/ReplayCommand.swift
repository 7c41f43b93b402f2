import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SharedConfiguration
import SharedKafka
import SharedRedis
import SharedService

/// `replica replay`: rebuilds this replica's Redis from offset zero of `<ns>-links`.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Rebuild this replica's links in its Redis from the start of the links topic.",
        discussion: """
            Removes the namespace's links, offsets and state marker from the replica's Redis (nothing \
            else: other namespaces and the click counts stay) and reads the links topic from offset \
            zero. If the replica is running on that Redis, it rebuilds itself, answering 503 until it \
            has caught up, and this command follows its progress; otherwise this command does the work.
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var replica: ReplicaOptions

    func run() async throws {
        let logger = try Observability.bootstrap(service: "replay", options: common)
            .with(metadata: "replica.id", "\(replica.replicaID)")
        let namespace = try common.resolvedNamespace()
        let connection = replica.connectRedis(logger: logger)
        defer { connection.close() }
        let redis = GuardedRedis(connection, breaker: .redis(logger: logger))
        let store = LinkStore(redis: redis, namespace: namespace)
        let admin = try KafkaAdmin(bootstrapServers: common.kafkaBrokers, logger: logger)
        defer { admin.close() }
        let clients = try KafkaClientSettings.load(from: common.topicsDir)
        let replay = LinkReplay(store: store, admin: admin, namespace: namespace)
        let replicaID = replica.replicaID
        let summary = try await replay.run(
            makeFeed: {
                try LinkFeed(
                    namespace: namespace, replicaID: replicaID, kafkaBrokers: common.kafkaBrokers, clients: clients,
                    store: store, kafka: .kafka(logger: logger), logger: logger)
            }, logger: logger)
        print(summary.text(redis: "\(replica.redisHost):\(replica.redisPort)"))
    }
}

/// The work of ``ReplayCommand``: wipe, then rebuild (in this process, or by the running replica) while
/// showing progress: offsets applied against the high watermarks the topic had at the start.
struct LinkReplay: Sendable {
    let store: LinkStore
    let admin: KafkaAdmin
    let namespace: Namespace
    /// Time between progress checks. Default: 200 ms.
    var pollInterval: Duration = .milliseconds(200)

    /// What a replay did.
    struct Summary {
        var topic: String
        var partitions: Int
        /// Offsets read, over all partitions.
        var offsets: Int64
        var duration: Duration
        /// Links in Redis before and after.
        var linksBefore: Int
        var linksAfter: Int
        /// The id of the running replica that rebuilt itself; nil when this process did.
        var rebuiltByRunningReplica: String?

        func text(redis: String) -> String {
            let seconds = duration.inSeconds
            let rate = seconds > 0 ? Int((Double(offsets) / seconds).rounded()) : 0
            let who = rebuiltByRunningReplica.map { "the running replica \($0)" } ?? "this command"
            return """
                Replayed \(topic) from offset zero into Redis \(redis) (rebuilt by \(who)): \
                \(offsets) messages over \(partitions) partitions in \(String(format: "%.1f", seconds)) s \
                (\(rate)/s); links: \(linksBefore) before, \(linksAfter) now.
                """
        }
    }

    /// Wipes the namespace's links and rebuilds them; returns when every partition is applied
    /// up to where it ended at the start. `makeFeed` is called only when no replica is running.
    func run(
        makeFeed: () throws -> LinkFeed, logger: Logger,
        progress makeProgress: (Int64) -> ProgressDisplay = {
            ProgressDisplay(label: "Replay", total: $0, unit: "messages")
        }
    ) async throws -> Summary {
        guard let topic = try await admin.topics(named: [namespace.linksTopic]).first else {
            throw SettingError("topic \(namespace.linksTopic) does not exist: nothing to replay")
        }
        let running = try await store.runningReplica()
        let linksBefore = try await store.linkCount()
        _ = try await store.wipe()
        logger.notice(
            "Removed the namespace's links from Redis; replaying from offset zero",
            metadata: ["links.removed": "\(linksBefore)", "replica.running": "\(running ?? "none")"])
        let progress = makeProgress(topic.messages)
        var rebuiltBy = running
        var duration: Duration?
        if let running { duration = try await follow(topic, progress: progress, watching: running) }
        if duration == nil {
            if let running {
                logger.warning("Replica \(running) stopped during the replay; this command takes over")
            }
            rebuiltBy = nil
            duration = try await rebuildHere(topic, feed: try makeFeed(), progress: progress, logger: logger)
        }
        return Summary(
            topic: topic.name, partitions: topic.partitions.count, offsets: topic.messages,
            duration: duration ?? .zero, linksBefore: linksBefore, linksAfter: try await store.linkCount(),
            rebuiltByRunningReplica: rebuiltBy)
    }

    /// Runs `feed` in this process until ``follow(_:progress:watching:)`` sees every partition
    /// applied; returns how long the replay took.
    private func rebuildHere(
        _ topic: KafkaTopicDescription, feed: LinkFeed, progress: ProgressDisplay, logger: Logger
    ) async throws -> Duration? {
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: feed.producer), .init(service: feed.consumer)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        return try await withThrowingTaskGroup(of: Duration?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            tasks.addTask { try await follow(topic, progress: progress, watching: nil) }
            // The consumer stops first only when interrupted (a signal) or when it failed.
            guard let first = try await tasks.next(), let duration = first else {
                tasks.cancelAll()
                throw CancellationError()
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return duration
        }
    }

    /// Shows progress until every partition's applied offset reaches its high watermark and the
    /// rebuild is recorded as complete (the replica serves again), and returns how long the
    /// replay took; returns nil as soon as the replica `watching` names stops (its heartbeat ends).
    private func follow(
        _ topic: KafkaTopicDescription, progress: ProgressDisplay, watching runningReplica: String?
    ) async throws -> Duration? {
        var progress = progress
        while true {
            let applied = try await store.appliedOffsets()
            var done: Int64 = 0
            var finished = true
            for partition in topic.partitions {
                let position = min(
                    max(applied[partition.partition] ?? partition.lowWatermark, partition.lowWatermark),
                    partition.highWatermark)
                done += position - partition.lowWatermark
                if position < partition.highWatermark { finished = false }
            }
            if finished, try await store.isComplete() {
                progress.finish(done)
                return progress.elapsed
            }
            progress.update(done)
            if let runningReplica, try await store.runningReplica() != runningReplica { return nil }
            try await Task.sleep(for: pollInterval)
        }
    }
}
