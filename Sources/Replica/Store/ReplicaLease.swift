import SharedRedis

/// The claim of one replica process on its Redis: `<ns>:replica-alive` holds `<replica id>
/// <run id>` with a short expiry, renewed every second by ``RedisStateWatch``. Two processes
/// counting into one Redis would count every click twice (the keys are per namespace, not per
/// replica), so a second one refuses to start; a crashed replica's claim expires in
/// ``timeToLive``, after which its successor takes over.
struct ReplicaLease: Sendable {
    let redis: GuardedRedis
    let key: String
    /// `<replica id> <run id>`: the run id tells apart two processes of the same replica id.
    let holder: String

    /// How long a claim lasts without renewal. Default: 3 s.
    static let timeToLive: Duration = .seconds(3)

    init(redis: GuardedRedis, keys: ReplicaKeys, replicaID: String, runID: String = ReplicaKeys.epochNonce) {
        self.redis = redis
        self.key = keys.heartbeat
        self.holder = "\(replicaID) \(runID)"
    }

    /// KEYS: lease. ARGV: holder, time to live (ms). Takes or renews the lease unless another
    /// holds it; returns the holder it found (the caller's own when it took it).
    private static let claimScript = RedisScript(
        """
        local current = redis.call('GET', KEYS[1])
        if current and current ~= ARGV[1] then return current end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return ARGV[1]
        """)

    /// KEYS: lease. ARGV: holder. Gives the lease up if it is the caller's.
    private static let releaseScript = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """)

    /// Takes or renews the lease; returns who else holds it, or nil when it is ours now.
    func claim() async throws -> String? {
        let milliseconds = String(Self.timeToLive.components.seconds * 1000)
        let found = try await redis.evaluate(Self.claimScript, keys: [key], arguments: [holder, milliseconds]).string
        return found == holder ? nil : found ?? "someone"
    }

    /// Takes the lease, waiting up to ``timeToLive`` and a second for a claim that is not
    /// renewed any more (a crashed predecessor) to expire; throws ``ReplicaLeaseTaken`` when
    /// another process keeps it.
    func acquire() async throws {
        let deadline = ContinuousClock.now + Self.timeToLive + .seconds(1)
        while let other = try await claim() {
            guard ContinuousClock.now < deadline else { throw ReplicaLeaseTaken(holder: other) }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Gives the lease up, if it is still ours: a replay started now need not wait for it.
    func release() async throws {
        _ = try await redis.evaluate(Self.releaseScript, keys: [key], arguments: [holder])
    }

    /// The replica id in a holder's value.
    static func replicaID(of holder: String) -> String {
        String(holder.prefix { $0 != " " })
    }
}

/// Another replica process serves from this Redis.
struct ReplicaLeaseTaken: Error, CustomStringConvertible {
    let holder: String
    var description: String {
        """
        replica \(ReplicaLease.replicaID(of: holder)) (run \(holder.split(separator: " ").last ?? "?")) already \
        serves from this Redis: each replica needs a Redis of its own, or its clicks are counted twice
        """
    }
}
