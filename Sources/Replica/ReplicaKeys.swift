import Shared

/// The names of everything a replica keeps in its Redis, all under `<ns>:`.
struct ReplicaKeys: Sendable {
    let namespace: Namespace

    /// `<ns>:link:<code>`: a hash with `url`, `exp` (ms since 1970, or empty), `max` (visits
    /// allowed, or empty), `state` (`active`, `deleted`, `exhausted`) and `rev`.
    func link(_ code: String) -> String { namespace.redisKey("link:\(code)") }
    /// `<ns>:offsets:<ns>-links`: partition → next offset to read, written with each event.
    var offsets: String { namespace.redisKey("offsets:\(namespace.linksTopic)") }
    /// `<ns>:clicks`: code → clicks counted in the current epoch.
    var clicks: String { namespace.redisKey("clicks") }
    /// `<ns>:clicks:unreported`: the codes whose count moved since it was last acknowledged by Kafka.
    var unreportedClicks: String { namespace.redisKey("clicks:unreported") }
    /// `<ns>:epoch`: this Redis's life; created with the first click after the data was lost.
    var epoch: String { namespace.redisKey("epoch") }
    /// `<ns>:replica-state`: set when the replica (re)starts filling this Redis from the links
    /// topic. Its absence means the data was lost (a restart without persistence, a flush):
    /// scripts then refuse with `STATE_LOST` and the replica rebuilds from offset zero.
    var stateMarker: String { namespace.redisKey("replica-state") }

    /// `<ns>:replica-alive`: the id of the replica serving from this Redis, set every second
    /// with a 3 s expiry; `replica replay` leaves the rebuild to a replica that is alive.
    var heartbeat: String { namespace.redisKey("replica-alive") }
    /// The pattern of every link key, for SCAN.
    var linkPattern: String { namespace.redisKey("link:*") }

    /// Lua: fails the script with `STATE_LOST` unless `KEYS[markerKey]` exists.
    static func requireStateLua(markerKey: Int) -> String {
        """
        if redis.call('EXISTS', KEYS[\(markerKey)]) == 0 then
            return redis.error_reply('STATE_LOST: the replica data in this Redis is gone')
        end
        """
    }

    /// Random per process, part of every epoch this process creates: two epochs never collide
    /// even if two replicas' Redis servers read the same clock.
    static let epochNonce = String(UInt32.random(in: .min ... .max), radix: 16)

    /// Lua: `local epoch`, read from `KEYS[epochKey]`, or created from Redis's clock (µs) and
    /// `ARGV[nonceArgument]` when missing. Every script that counts or reports starts with it,
    /// so all the counts of one life of the data belong to one epoch.
    static func ensureEpochLua(epochKey: Int, nonceArgument: Int) -> String {
        """
        local epoch = redis.call('GET', KEYS[\(epochKey)])
        if not epoch then
            local now = redis.call('TIME')
            epoch = now[1] .. string.format('%06d', tonumber(now[2])) .. '-' .. ARGV[\(nonceArgument)]
            redis.call('SET', KEYS[\(epochKey)], epoch)
        end
        """
    }
}
