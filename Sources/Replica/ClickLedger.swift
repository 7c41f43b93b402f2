import Shared

/// The reporting side of the click counts in the replica's Redis: which codes moved since
/// Kafka last acknowledged their total, and marking them reported once it has.
///
/// A code leaves the unreported set only when the total Kafka acknowledged is still the current
/// one in the same epoch, so a click that lands while a report is in flight, a failed send, or
/// a crash before the acknowledgement all leave the code to the next report.
struct ClickLedger: Sendable {
    /// Running totals waiting for a report, all of one epoch.
    struct PendingTotals: Equatable {
        var epoch: String
        /// Code → running total.
        var totals: [String: Int64]
    }

    let redis: GuardedRedis
    let keys: ReplicaKeys

    init(redis: GuardedRedis, namespace: Namespace) {
        self.redis = redis
        self.keys = ReplicaKeys(namespace: namespace)
    }

    /// KEYS: clicks, unreported, epoch. ARGV: most codes, epoch nonce.
    /// Returns `{epoch, code1, total1, …}` for up to ARGV[1] unreported codes.
    private static let pendingScript = RedisScript(
        """
        local codes = redis.call('SRANDMEMBER', KEYS[2], tonumber(ARGV[1]))
        if #codes == 0 then return {} end
        \(ReplicaKeys.ensureEpochLua(epochKey: 3, nonceArgument: 2))
        local reply = {epoch}
        for _, code in ipairs(codes) do
            reply[#reply + 1] = code
            reply[#reply + 1] = redis.call('HGET', KEYS[1], code) or '0'
        end
        return reply
        """)

    /// KEYS: clicks, unreported, epoch. ARGV: epoch, code1, total1, ….
    /// Marks each code reported if its total is still the acknowledged one; returns how many.
    private static let settleScript = RedisScript(
        """
        if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
        local settled = 0
        for index = 2, #ARGV, 2 do
            if redis.call('HGET', KEYS[1], ARGV[index]) == ARGV[index + 1] then
                redis.call('SREM', KEYS[2], ARGV[index])
                settled = settled + 1
            end
        end
        return settled
        """)

    /// Up to `limit` codes whose totals moved since their last acknowledged report.
    func pending(limit: Int) async throws -> PendingTotals? {
        let reply = try await redis.evaluate(
            Self.pendingScript, keys: [keys.clicks, keys.unreportedClicks, keys.epoch],
            arguments: [String(limit), ReplicaKeys.epochNonce])
        guard let fields = reply.array, let epoch = fields.first?.string else { return nil }
        var totals: [String: Int64] = [:]
        for index in stride(from: 1, to: fields.count - 1, by: 2) {
            if let code = fields[index].string, let total = fields[index + 1].integer { totals[code] = total }
        }
        return PendingTotals(epoch: epoch, totals: totals)
    }

    /// Marks the codes whose acknowledged `totals` are still current as reported; returns how many.
    @discardableResult
    func settle(epoch: String, totals: [String: Int64]) async throws -> Int {
        guard !totals.isEmpty else { return 0 }
        var arguments = [epoch]
        arguments.reserveCapacity(1 + totals.count * 2)
        for (code, total) in totals {
            arguments.append(code)
            arguments.append(String(total))
        }
        let reply = try await redis.evaluate(
            Self.settleScript, keys: [keys.clicks, keys.unreportedClicks, keys.epoch], arguments: arguments)
        return Int(reply.integer ?? 0)
    }

    /// How many codes wait for a report.
    func unreportedCount() async throws -> Int {
        Int(try await redis.send(["SCARD", keys.unreportedClicks]).integer ?? 0)
    }
}
