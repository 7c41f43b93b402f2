import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import SharedConfiguration
import SharedKafka

/// Makes the in-memory dev broker durable: every partition of the namespace's topics is
/// mirrored to `<directory>/<topic>/<partition>.journal` (see ``PartitionJournal``), and the
/// committed offsets of the master's and the notifier's consumer groups to
/// `<directory>/groups.json`. At start, ``restore()`` produces every journaled message back into
/// its partition, in order, so each gets its old offset, and commits the groups' offsets again:
/// replicas, master and notifier carry on as if the broker had never stopped.
///
/// Messages are mirrored by consumers of this process, and written and fsynced every
/// ``flushInterval`` and once more at a graceful stop. A `kill -9` therefore loses what arrived
/// since the last flush began: the flush interval (200 ms), what the mirror had not fetched yet
/// (its fetch wait is 10 ms), and the time the last flush took to write and fsync every
/// partition one after another (about a millisecond each on a local disk). The next start
/// knows (no `clean-stop` marker) and leaves `needs-backfill` in the folder: `make run` then
/// re-announces every link with `master backfill`, which replicas apply by revision and the
/// notifier does not turn into webhooks (a link event lost this way gets no webhook). A
/// consumer whose stored offset lies beyond a restored partition's end reads that partition
/// again from its beginning (``KafkaConsumer``), so it misses nothing produced after the restart.
///
/// `@unchecked Sendable`: the journals are only touched under `lock`.
final class DevBrokerMirror: @unchecked Sendable {
    /// Time between writes of the journals to disk. Default: 200 ms.
    static let flushInterval: Duration = .milliseconds(200)
    /// Time between saves of the groups' committed offsets. Default: 1 s.
    static let groupsInterval: Duration = .seconds(1)

    let directory: String
    let namespace: Namespace
    let bootstrapServers: String
    /// The namespace's topics: name → partition count.
    let topics: [String: Int]
    /// The groups whose committed offsets are kept: the master's and the notifier's (replicas
    /// keep theirs in their own Redis).
    let groups: [String]
    private let definitions: [TopicDefinition]
    private let logger: Logger
    private let lock = NIOLock()
    private var journals: [String: [Int32: PartitionJournal]] = [:]
    /// Compacted topics whose partitions lost their beginning: "topic partition N starts at M".
    private let lostHistory = NIOLockedValueBox<[String]>([])

    /// Why the broker no longer keeps its promise: a compacted topic (the links) that lost the
    /// beginning of a partition to the mock cluster's per-partition cap.
    var problems: [String] { lostHistory.withLockedValue { $0 } }

    /// Whether the journals were left by a broker that did not stop gracefully (killed, or the
    /// machine went down): their last ``flushInterval`` may be missing.
    let stoppedUncleanly: Bool
    private var cleanStopMarker: String { "\(directory)/clean-stop" }

    init(
        directory: String, namespace: Namespace, definitions: [TopicDefinition], bootstrapServers: String,
        logger: Logger
    ) throws {
        self.directory = directory
        self.namespace = namespace
        self.definitions = definitions
        self.bootstrapServers = bootstrapServers
        self.logger = logger
        var topics: [String: Int] = [:]
        for definition in definitions { topics[namespace.topic(definition.topic)] = definition.partitions }
        self.topics = topics
        groups = [namespace.masterGroup, namespace.notifierGroup]
        for (topic, partitions) in topics {
            let folder = "\(directory)/\(topic)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let stored = try FileManager.default.contentsOfDirectory(atPath: folder)
                .compactMap { $0.hasSuffix(".journal") ? Int32($0.dropLast(".journal".count)) : nil }
            if let beyond = stored.filter({ $0 >= partitions }).max() {
                throw SettingError(
                    """
                    \(folder) holds partition \(beyond), but \(topic) now has \(partitions) partitions: \
                    set the partition count it had (SHORTENER_TOPIC_<TOPIC>_PARTITIONS), or remove \(directory) \
                    to start with empty topics
                    """)
            }
            var byPartition: [Int32: PartitionJournal] = [:]
            for partition in 0..<Int32(partitions) {
                byPartition[partition] = try PartitionJournal(path: "\(folder)/\(partition).journal")
            }
            journals[topic] = byPartition
            // A file created is on disk once its folder's entry is.
            try Self.syncDirectory(folder)
        }
        try Self.syncDirectory(directory)
        let journaled = journals.values.contains { $0.values.contains { $0.nextOffset > 0 } }
        stoppedUncleanly = journaled && !FileManager.default.fileExists(atPath: "\(directory)/clean-stop")
        try? FileManager.default.removeItem(atPath: "\(directory)/clean-stop")
    }

    private var groupsFile: String { "\(directory)/groups.json" }

    /// Produces every journaled message back into its partition and commits the groups' saved
    /// offsets; returns how many messages it restored. Call before any client connects.
    func restore() async throws -> Int {
        let work: [(topic: String, partition: Int32, records: [PartitionJournal.Record])] = lock.withLock {
            journals.flatMap { topic, partitions in
                partitions.map { (topic, $0.key, $0.value.restored) }
            }.filter { !$0.records.isEmpty }
        }
        let producer = try KafkaProducer(settings: .init(bootstrapServers: bootstrapServers), logger: logger)
        var restored = 0
        var shifted = 0
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await producer.run() }
            defer { tasks.cancelAll() }
            for (topic, partition, records) in work {
                var deliveries: [(Int64, KafkaDelivery)] = []
                deliveries.reserveCapacity(records.count)
                for record in records {
                    deliveries.append(
                        (
                            record.offset,
                            try producer.enqueue(
                                topic: topic, partition: partition, key: record.key, value: record.value,
                                headers: record.headers, timestamp: record.timestamp)
                        ))
                }
                for (offset, delivery) in deliveries {
                    let report = try await delivery.value()
                    if report.offset != offset { shifted += 1 }
                }
                restored += records.count
                logger.info(
                    "Restored a partition from its journal",
                    metadata: [
                        "kafka.topic": "\(topic)", "kafka.partition": "\(partition)",
                        "kafka.messages": "\(records.count)",
                    ])
            }
        }
        if shifted > 0 {
            logger.error(
                "Restored messages got other offsets than they had: the journal has gaps",
                metadata: ["kafka.messages": "\(shifted)"])
        }
        lock.withLock { for partitions in journals.values { partitions.values.forEach { $0.forgetRestored() } } }
        try await restoreGroupOffsets()
        return restored
    }

    /// The services that keep the journals current: one consumer per topic, then the writer,
    /// which stops after them and writes what they handed over.
    func services() throws -> [any Service] {
        var consumers: [any Service] = []
        for definition in definitions {
            let topic = namespace.topic(definition.topic)
            var settings = KafkaConsumerSettings(
                bootstrapServers: bootstrapServers, groupID: "\(namespace.name)-dev-broker-mirror",
                assignment: .allPartitions(topic: topic) { [self] _ in
                    lock.withLock { journals[topic, default: [:]].mapValues(\.nextOffset) }
                },
                clientSettings: ["fetch.wait.max.ms": "10"])
            settings.maxBatch = 1000
            consumers.append(
                try KafkaConsumer(
                    settings: settings, logger: logger,
                    batchHandler: { [self] (messages: [KafkaMessage]) in
                        lock.withLock {
                            for (partition, batch) in Dictionary(grouping: messages, by: \.partition) {
                                journals[topic]?[partition]?.append(batch)
                            }
                        }
                    }))
        }
        return [Writer(mirror: self)] + consumers
    }

    /// Writes every journal to disk.
    func flush() {
        lock.withLock {
            for partitions in journals.values {
                for journal in partitions.values {
                    do {
                        try journal.flush()
                    } catch {
                        logger.error("Writing a journal failed", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
    }

    /// Saves the groups' committed offsets (topic → partition → offset) to `groups.json`.
    func saveGroupOffsets(admin: KafkaAdmin) async {
        do {
            let described = try await admin.topics(named: Set(topics.keys))
            var saved: [String: [String: [String: Int64]]] = [:]
            for group in groups {
                for lag in try await admin.lag(of: group, on: described) where lag.hasCommitted {
                    for partition in lag.partitions {
                        guard let offset = partition.committedOffset else { continue }
                        saved[group, default: [:]][lag.topic, default: [:]][String(partition.partition)] = offset
                    }
                }
            }
            let data = try JSONEncoder().encode(saved)
            // Written to a new file, synced, renamed over the old one, and the rename synced:
            // a crash leaves the old file or the new one, whole.
            let temporary = groupsFile + ".new"
            try data.write(to: URL(fileURLWithPath: temporary))
            try Self.syncFile(temporary)
            guard rename(temporary, groupsFile) == 0 else {
                throw SettingError("cannot rename \(temporary): errno \(errno)")
            }
            try Self.syncDirectory(directory)
        } catch {
            logger.warning("Saving the groups' offsets failed", metadata: ["error": "\(error)"])
        }
    }

    /// Looks at every partition of the compacted topics: one whose low watermark left 0 has
    /// lost history (the mock cluster keeps at most 5 MiB per partition and drops older
    /// batches in silence). Logs it once, as an error saying what to do.
    func checkHistory(admin: KafkaAdmin) async {
        let compacted = Set(
            definitions.filter { $0.topicConfigs["cleanup.policy"]?.contains("compact") == true }
                .map { namespace.topic($0.topic) })
        guard let described = try? await admin.topics(named: compacted) else { return }
        var found: [String] = []
        for topic in described where compacted.contains(topic.name) {
            for partition in topic.partitions where partition.lowWatermark > 0 {
                found.append("\(topic.name) partition \(partition.partition) starts at \(partition.lowWatermark)")
            }
        }
        let new = lostHistory.withLockedValue { known in
            let new = found.filter { !known.contains($0) }
            known = found
            return new
        }
        for problem in new {
            logger.error(
                "A compacted topic lost history: the dev broker keeps at most 5 MiB per partition; a replica rebuilt from offset zero would miss links. Use a real Kafka (SHORTENER_KAFKA_BROKERS), or more partitions (SHORTENER_TOPIC_LINKS_PARTITIONS)",
                metadata: ["kafka.partition": "\(problem)"])
        }
    }

    private func restoreGroupOffsets() async throws {
        guard let data = FileManager.default.contents(atPath: groupsFile) else { return }
        let saved: [String: [String: [String: Int64]]]
        do {
            saved = try JSONDecoder().decode([String: [String: [String: Int64]]].self, from: data)
        } catch {
            // Written whole or not at all since the rename is synced; a file torn by an older
            // version or a disk fault costs the groups their place, never the start.
            logger.error(
                "groups.json is unreadable: the master's and the notifier's groups start from the beginning (their work is idempotent)",
                metadata: ["error": "\(error)"])
            return
        }
        let admin = try KafkaAdmin(bootstrapServers: bootstrapServers, logger: logger)
        for (group, topics) in saved {
            var offsets: [String: [Int32: Int64]] = [:]
            for (topic, partitions) in topics {
                for (partition, offset) in partitions {
                    if let partition = Int32(partition) { offsets[topic, default: [:]][partition] = offset }
                }
            }
            try await admin.commit(offsets, for: group)
            logger.info("Restored a group's committed offsets", metadata: ["kafka.group": "\(group)"])
        }
    }

    /// Flushes a file's data to disk.
    static func syncFile(_ path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw SettingError("cannot open \(path): errno \(errno)") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw SettingError("cannot sync \(path): errno \(errno)") }
    }

    /// Flushes a folder's entries to disk: files created or renamed in it survive a crash.
    static func syncDirectory(_ path: String) throws {
        try syncFile(path)
    }

    /// Writes the journals every ``flushInterval`` and the groups' offsets every
    /// ``groupsInterval``; at a graceful stop, after the consumers, once more.
    private struct Writer: Service {
        let mirror: DevBrokerMirror

        func run() async throws {
            let admin = try KafkaAdmin(bootstrapServers: mirror.bootstrapServers, logger: mirror.logger)
            try? await cancelWhenGracefulShutdown {
                var lastGroupsSave = ContinuousClock.now
                while true {
                    try await Task.sleep(for: DevBrokerMirror.flushInterval)
                    mirror.flush()
                    if ContinuousClock.now - lastGroupsSave >= DevBrokerMirror.groupsInterval {
                        await mirror.saveGroupOffsets(admin: admin)
                        await mirror.checkHistory(admin: admin)
                        lastGroupsSave = .now
                    }
                }
            }
            mirror.flush()
            await mirror.saveGroupOffsets(admin: admin)
            _ = FileManager.default.createFile(atPath: mirror.cleanStopMarker, contents: nil)
            mirror.logger.info("Wrote the topics' journals", metadata: ["directory": "\(mirror.directory)"])
        }
    }
}
