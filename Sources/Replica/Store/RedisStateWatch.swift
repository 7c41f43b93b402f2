import Logging
import ServiceLifecycle
import SharedKafka

/// Notices, within ``interval``, that the replica's Redis lost its data (restarted without
/// persistence, flushed, or wiped by `replica replay`) while no event arrived to find out, and
/// has the consumer rebuild it from offset zero. Scripts that run meanwhile find out by
/// themselves (``RedisStateLost``). Each check also renews the replica's ``ReplicaLease``; should
/// another process hold it (this one was paused past its expiry and another started), this
/// service fails, and with it the replica: two processes must never count into one Redis.
///
/// It also notices that Redis restarted with its data, by the server's `run_id`: the data may
/// come from an older snapshot (an RDB, an AOF behind by its fsync interval) that lacks recent
/// links and holds click totals below what the master already counted. The click counts then
/// go on in a new epoch (``ClickLedger/rotateEpochIfRedisRestarted(runID:)``), and the consumer
/// reads the links again from the offsets stored in that Redis, serving nothing until it has
/// caught up (``LinkStore/startRebuild()``): an older snapshot may hold a link deleted since.
/// Between the restart and the check (at most ``interval``) such a link may still be served, and
/// clicks counted then may be hidden by the older totals.
struct RedisStateWatch: Service {
    let store: LinkStore
    let ledger: ClickLedger
    let consumer: KafkaConsumer
    /// This process's claim on the Redis.
    let lease: ReplicaLease
    /// Time between checks. Default: 1 s.
    var interval: Duration = .seconds(1)
    let logger: Logger

    func run() async throws {
        let keys = store.keys
        try? await cancelWhenGracefulShutdown {
            while true {
                // A failed renewal tells nothing (Redis may be down); another holder ends this replica.
                if let other = try? await lease.claim() { throw ReplicaLeaseTaken(holder: other) }
                // Before the consumer has set the marker, a fresh Redis lacks it for good reasons.
                // A failed check tells nothing.
                if store.hasSetStateMarker,
                    let present = try? await store.redis.send(["EXISTS", keys.stateMarker]).integer, present == 0
                {
                    consumer.requestRewind(reason: "the state marker \(keys.stateMarker) disappeared from Redis")
                }
                if let runID = await serverRunID(),
                    (try? await ledger.rotateEpochIfRedisRestarted(runID: runID)) == true
                {
                    logger.warning(
                        "Redis restarted: click counts go on in a new epoch; reading the links again from its offsets",
                        metadata: ["redis.run_id": "\(runID)"])
                    if store.hasSetStateMarker {
                        // Should this fail, the visits' own STATE_LOST or the next check rewinds.
                        try? await store.startRebuild()
                        consumer.requestRewind(
                            reason: "Redis restarted (run_id \(runID)), maybe from an older snapshot")
                    }
                }
                try await Task.sleep(for: interval)
            }
        }
        // Stopped: a replay started now must not wait for this replica.
        try? await lease.release()
    }

    /// The Redis server's `run_id` (new with every start of the server), or nil when unknown.
    private func serverRunID() async -> String? {
        guard let info = try? await store.redis.send(["INFO", "server"]).string else { return nil }
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("run_id:") {
            return String(line.dropFirst("run_id:".count)).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }
}
