import Logging
import ServiceLifecycle
import Shared

/// Notices, within ``interval``, that the replica's Redis lost its data (restarted without
/// persistence, flushed, or wiped by `replica replay`) while no event arrived to find out, and
/// has the consumer rebuild it from offset zero. Scripts that run meanwhile find out by
/// themselves (``RedisStateLost``). Each check also renews the replica's heartbeat.
struct RedisStateWatch: Service {
    let store: LinkStore
    let consumer: KafkaConsumer
    /// Written into the heartbeat key.
    let replicaID: String
    /// Time between checks. Default: 1 s.
    var interval: Duration = .seconds(1)
    let logger: Logger

    func run() async throws {
        let keys = store.keys
        try? await cancelWhenGracefulShutdown {
            while true {
                _ = try? await store.redis.send(["SET", keys.heartbeat, replicaID, "PX", "3000"])
                // Before the consumer has set the marker, a fresh Redis lacks it for good reasons.
                // A failed check tells nothing.
                if store.hasSetStateMarker,
                    let present = try? await store.redis.send(["EXISTS", keys.stateMarker]).integer, present == 0
                {
                    consumer.requestRewind(reason: "the state marker \(keys.stateMarker) disappeared from Redis")
                }
                try await Task.sleep(for: interval)
            }
        }
        // Stopped: a replay started now must not wait for this replica.
        _ = try? await store.redis.send(["DEL", keys.heartbeat])
    }
}
