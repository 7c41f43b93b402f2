import Logging
import ServiceLifecycle
import Shared

/// Notices, within ``interval``, that the replica's Redis lost its data (restarted without
/// persistence, or flushed) while no event arrived to find out, and has the consumer rebuild it
/// from offset zero. Scripts that run meanwhile find out by themselves (``RedisStateLost``).
struct RedisStateWatch: Service {
    let redis: GuardedRedis
    let keys: ReplicaKeys
    let consumer: KafkaConsumer
    /// Time between checks. Default: 1 s.
    var interval: Duration = .seconds(1)
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            // Once the consumer has set the marker, it must stay; before that, a fresh Redis
            // lacks it for good reasons. A failed check tells nothing.
            var markerWasSet = false
            while true {
                try await Task.sleep(for: interval)
                guard let present = try? await redis.send(["EXISTS", keys.stateMarker]).integer else { continue }
                if present == 1 {
                    markerWasSet = true
                } else if markerWasSet {
                    consumer.requestRewind(reason: "the state marker \(keys.stateMarker) disappeared from Redis")
                }
            }
        }
    }
}
