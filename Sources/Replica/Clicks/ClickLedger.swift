import Foundation
import SharedConfiguration
import SharedEvents
import SharedRedis

/// The reporting side of the click counts in the replica's Redis: which codes moved since
/// Kafka last acknowledged their total, and marking them reported once it has.
///
/// A code leaves the unreported set only when the total Kafka acknowledged is still the current
/// one in the same epoch, so a click that lands while a report is in flight, a failed send, or
/// a crash before the acknowledgement all leave the code to the next report.
///
/// When Redis restarted (see ``rotateEpochIfRedisRestarted(runID:)``), the totals the old epoch
/// had not reported are kept apart as retired and reported first, under their own epoch.
///
/// A "code" in the Redis keys and scripts here is a link's ``LinkAddress/key``: the bare code
/// on the default domain, `<domain>/<code>` elsewhere.
struct ClickLedger: Sendable {
    /// One running total to report, with where its clicks came from.
    struct Total: Hashable {
        var epoch: String
        /// The link's ``LinkAddress/key``.
        var linkKey: String
        var total: Int64
        var humans = ClickBreakdown()
        var bots = ClickBreakdown()
    }

    /// Most distinct values one link records per dimension on this replica, by default; the
    /// rest count as `other`, so a link's Redis memory stays bounded whatever its traffic.
    static let defaultMaximumValues = 100

    /// Hours a replica keeps after they were reported: older ones no click can reach any more
    /// are dropped once the master has them, so a link's Redis memory stays bounded.
    static let keptHours = 3

    /// Running totals waiting for a report: all of the current epoch, or all retired ones.
    struct PendingTotals: Equatable {
        var totals: [Total]
        /// Whether they are totals of epochs that ended with a Redis restart.
        var retired: Bool
    }

    let redis: GuardedRedis
    let keys: ReplicaKeys
    /// The time, for which hours are old enough to drop.
    private let now: @Sendable () -> Date
    /// ``defaultMaximumValues`` or the setting, as the scripts take it.
    private let maximumValues: String

    init(
        redis: GuardedRedis, namespace: Namespace, maximumValues: Int = defaultMaximumValues,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.redis = redis
        self.keys = ReplicaKeys(namespace: namespace)
        self.maximumValues = String(maximumValues)
        self.now = now
    }

    /// Most kinds of click (``ClickAttributes/field``) a code's fresh hash holds between two
    /// reports. A click of a new kind past it goes straight into the stats hash, so that neither
    /// a visit nor a fold ever works through more than this many fields, whatever a sender puts
    /// in its `Referer`; ordinary traffic (a few referrers, countries and clients an hour) stays
    /// under it and keeps the one-counter visit.
    static let maximumFreshFields = 32

    /// Lua: `count_click(stats, field, count, cap)` adds `count` clicks of one kind (a fresh
    /// field) to a stats hash: its hour, and each dimension's value. A value new to the link
    /// takes a place while its dimension has fewer than `cap`; otherwise it counts as `other`.
    /// A routed link's clicks also carry the rule and variant the visit was decided on.
    /// At most 43 commands, whatever the hash holds.
    static let countClickLua = """
        local function count_click(stats, field, count, cap)
            local bot = string.sub(field, 1, 1) == '1'
            local parts = {}
            for part in string.gmatch(string.sub(field, 2), '[^\t]+') do parts[#parts + 1] = part end
            redis.call('HINCRBY', stats, (bot and 'H' or 'h') .. parts[1], count)
            for dimension = 1, 7 do
                local letter = string.sub('rcdbouv', dimension, dimension)
                local mine = bot and string.upper(letter) or letter
                local theirs = bot and letter or string.upper(letter)
                local value = parts[dimension + 1]
                -- A routed link's rule and variant (u, v) only; '-': no split.
                if value and value ~= '-' and redis.call('HINCRBY', stats, mine .. value, count) == count
                    and redis.call('HEXISTS', stats, theirs .. value) == 0
                    and redis.call('HINCRBY', stats, '#' .. letter, 1) > cap then
                    redis.call('HINCRBY', stats, '#' .. letter, -1)
                    redis.call('HDEL', stats, mine .. value)
                    redis.call('HINCRBY', stats, mine .. 'other', count)
                end
            end
        end
        """

    /// Lua: `fold(epoch, code)` moves the code's fresh clicks (at most ``maximumFreshFields``
    /// kinds) into its stats hash (ARGV[3] and ARGV[4] are the stats and fresh key prefixes,
    /// ARGV[5] the most values per dimension), then returns the stats hash as HGETALL does.
    private static let foldLua = """
        \(countClickLua)
        local function fold(epoch, code)
            local stats = ARGV[3] .. epoch .. ':' .. code
            local fresh = ARGV[4] .. epoch .. ':' .. code
            local cap = tonumber(ARGV[5])
            local clicks = redis.call('HGETALL', fresh)
            for index = 1, #clicks, 2 do count_click(stats, clicks[index], tonumber(clicks[index + 1]), cap) end
            redis.call('DEL', fresh)
            return redis.call('HGETALL', stats)
        end
        """

    /// The human and bot breakdowns in a stats hash as HGETALL returns it (field, value, …):
    /// the first letter names the dimension, lower-case for humans, upper-case for bots.
    static func breakdowns(_ fields: [RedisValue]) -> (humans: ClickBreakdown, bots: ClickBreakdown) {
        var humans = ClickBreakdown()
        var bots = ClickBreakdown()
        for index in stride(from: 0, to: fields.count - 1, by: 2) {
            guard let field = fields[index].string, let count = fields[index + 1].integer,
                let letter = field.unicodeScalars.first, let dimension = dimensions[Character(letter).lowercased()]
            else { continue }
            let value = String(field.dropFirst())
            if letter.properties.isUppercase {
                bots.values[dimension, default: [:]][value] = count
            } else {
                humans.values[dimension, default: [:]][value] = count
            }
        }
        return (humans, bots)
    }

    /// The first letters of the stats fields (`#` counters have none of these).
    private static let dimensions: [String: ClickBreakdown.Dimension] = [
        "h": .hour, "r": .referrer, "c": .country, "d": .device, "b": .browser, "o": .os, "u": .rule,
        "v": .variant,
    ]

    /// KEYS: clicks, unreported, epoch, retired clicks, retired unreported. ARGV: most codes,
    /// epoch nonce, stats key prefix, fresh key prefix, most values per dimension. Returns
    /// `{"retired", epoch|code, total, stats, …}` while retired totals wait, else
    /// `{epoch, code1, total1, stats1, …}` for up to ARGV[1] unreported codes, each with its
    /// stats hash (fresh clicks folded in), read in the same step as its total.
    private static let pendingScript = RedisScript(
        """
        \(foldLua)
        local retired = redis.call('SRANDMEMBER', KEYS[5], tonumber(ARGV[1]))
        if #retired > 0 then
            local reply = {'retired'}
            for _, member in ipairs(retired) do
                local bar = string.find(member, '|', 1, true)
                reply[#reply + 1] = member
                reply[#reply + 1] = redis.call('HGET', KEYS[4], member) or '0'
                reply[#reply + 1] = fold(string.sub(member, 1, bar - 1), string.sub(member, bar + 1))
            end
            return reply
        end
        local codes = redis.call('SRANDMEMBER', KEYS[2], tonumber(ARGV[1]))
        if #codes == 0 then return {} end
        \(ReplicaKeys.ensureEpochLua(epochKey: 3, nonceArgument: 2))
        local reply = {epoch}
        for _, code in ipairs(codes) do
            reply[#reply + 1] = code
            reply[#reply + 1] = redis.call('HGET', KEYS[1], code) or '0'
            reply[#reply + 1] = fold(epoch, code)
        end
        return reply
        """)

    /// KEYS: clicks, unreported, epoch. ARGV: epoch, stats key prefix, oldest hour kept, code1,
    /// total1, …. Marks each code reported if its total is still the acknowledged one (then its
    /// stats are the acknowledged ones too) and drops its reported hours before the oldest kept;
    /// returns how many.
    private static let settleScript = RedisScript(
        """
        if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
        local settled = 0
        for index = 4, #ARGV, 2 do
            if redis.call('HGET', KEYS[1], ARGV[index]) == ARGV[index + 1] then
                redis.call('SREM', KEYS[2], ARGV[index])
                settled = settled + 1
                local stats = ARGV[2] .. ARGV[1] .. ':' .. ARGV[index]
                for _, field in ipairs(redis.call('HKEYS', stats)) do
                    local kind = string.sub(field, 1, 1)
                    if (kind == 'h' or kind == 'H') and string.sub(field, 2) < ARGV[3] then
                        redis.call('HDEL', stats, field)
                    end
                end
            end
        end
        return settled
        """)

    /// KEYS: retired clicks, retired unreported. ARGV: stats key prefix, then the epoch|code
    /// members acknowledged. Retired totals never move: an acknowledged one is done, stats too.
    private static let settleRetiredScript = RedisScript(
        """
        local settled = 0
        for index = 2, #ARGV do
            local member = ARGV[index]
            local bar = string.find(member, '|', 1, true)
            settled = settled + redis.call('SREM', KEYS[2], member)
            redis.call('HDEL', KEYS[1], member)
            redis.call('DEL', ARGV[1] .. string.sub(member, 1, bar - 1) .. ':' .. string.sub(member, bar + 1))
        end
        return settled
        """)

    /// KEYS: run id, clicks, unreported, epoch, retired clicks, retired unreported, retired
    /// epochs. ARGV: the Redis server's run_id. Returns 1 when the data was written by another
    /// Redis process: the unreported totals are retired under their epoch, the epoch is listed
    /// for its stats keys to be removed, and the next click starts a new epoch, whose totals
    /// start from zero. A Redis restored from an older snapshot holds totals below what the
    /// master already has for its epoch; counting on from them would hide new clicks.
    private static let rotateScript = RedisScript(
        """
        local known = redis.call('GET', KEYS[1])
        if known == ARGV[1] then return 0 end
        redis.call('SET', KEYS[1], ARGV[1])
        if not known then return 0 end
        local epoch = redis.call('GET', KEYS[4])
        if epoch then
            for _, code in ipairs(redis.call('SMEMBERS', KEYS[3])) do
                local member = epoch .. '|' .. code
                redis.call('HSET', KEYS[5], member, redis.call('HGET', KEYS[2], code) or '0')
                redis.call('SADD', KEYS[6], member)
            end
            -- Scans of other retired epochs start over: a cursor of another Redis process means nothing here.
            for _, earlier in ipairs(redis.call('HKEYS', KEYS[7])) do redis.call('HSET', KEYS[7], earlier, '0') end
            redis.call('HSET', KEYS[7], epoch, '0')
        end
        redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
        return 1
        """)

    /// Up to `limit` totals to report: retired ones first, else the current epoch's codes whose
    /// totals moved since their last acknowledged report.
    func pending(limit: Int) async throws -> PendingTotals? {
        let reply = try await redis.evaluate(
            Self.pendingScript,
            keys: [
                keys.clicks, keys.unreportedClicks, keys.epoch, keys.retiredClicks, keys.retiredUnreportedClicks,
            ],
            arguments: [String(limit), ReplicaKeys.epochNonce, keys.statsPrefix, keys.freshPrefix, maximumValues])
        guard let fields = reply.array, let head = fields.first?.string else { return nil }
        let retired = head == "retired"
        var totals: [Total] = []
        for index in stride(from: 1, to: fields.count - 2, by: 3) {
            guard let name = fields[index].string, let total = fields[index + 1].integer else { continue }
            var item: Total
            if retired {
                let parts = name.split(separator: "|", maxSplits: 1)
                guard parts.count == 2 else { continue }
                item = Total(epoch: String(parts[0]), linkKey: String(parts[1]), total: total)
            } else {
                item = Total(epoch: head, linkKey: name, total: total)
            }
            (item.humans, item.bots) = Self.breakdowns(fields[index + 2].array ?? [])
            totals.append(item)
        }
        return PendingTotals(totals: totals, retired: retired)
    }

    /// Marks the acknowledged totals that are still current (or retired) as reported; returns how many.
    @discardableResult
    func settle(_ acknowledged: [Total], retired: Bool) async throws -> Int {
        guard let epoch = acknowledged.first?.epoch else { return 0 }
        if retired {
            let reply = try await redis.evaluate(
                Self.settleRetiredScript, keys: [keys.retiredClicks, keys.retiredUnreportedClicks],
                arguments: [keys.statsPrefix] + acknowledged.map { "\($0.epoch)|\($0.linkKey)" })
            return Int(reply.integer ?? 0)
        }
        let oldestKept = ClickAttributes.hour(of: now().addingTimeInterval(-3600 * Double(Self.keptHours)))
        var arguments = [epoch, keys.statsPrefix, oldestKept]
        arguments.reserveCapacity(1 + acknowledged.count * 2)
        for total in acknowledged {
            arguments.append(total.linkKey)
            arguments.append(String(total.total))
        }
        let reply = try await redis.evaluate(
            Self.settleScript, keys: [keys.clicks, keys.unreportedClicks, keys.epoch], arguments: arguments)
        return Int(reply.integer ?? 0)
    }

    /// Starts a new epoch if the Redis server that holds the counts is not the one that wrote
    /// them (its `run_id` changed); returns whether it did. The first call only records it.
    func rotateEpochIfRedisRestarted(runID: String) async throws -> Bool {
        let reply = try await redis.evaluate(
            Self.rotateScript,
            keys: [
                keys.redisRunID, keys.clicks, keys.unreportedClicks, keys.epoch, keys.retiredClicks,
                keys.retiredUnreportedClicks, keys.retiredEpochs,
            ],
            arguments: [runID])
        return reply.integer == 1
    }

    /// KEYS: retired epochs, retired unreported. ARGV: stats key prefix. One SCAN step (`COUNT
    /// 1000`) over the stats keys of a retired epoch, from where its last step ended: removes
    /// those of codes whose totals were reported (a code still in the retired set keeps its key
    /// until its own report removes it). Returns how many keys it removed, or nothing when no
    /// epoch is left; an epoch leaves the list once its scan is done.
    private static let dropRetiredStatsStepScript = RedisScript(
        """
        local epoch = redis.call('HRANDFIELD', KEYS[1])
        if not epoch then return nil end
        local prefix = ARGV[1] .. epoch .. ':'
        local reply = redis.call('SCAN', redis.call('HGET', KEYS[1], epoch), 'MATCH', prefix .. '*', 'COUNT', 1000)
        local removed = 0
        for _, key in ipairs(reply[2]) do
            if redis.call('SISMEMBER', KEYS[2], epoch .. '|' .. string.sub(key, #prefix + 1)) == 0 then
                removed = removed + redis.call('UNLINK', key)
            end
        end
        if reply[1] == '0' then redis.call('HDEL', KEYS[1], epoch) else redis.call('HSET', KEYS[1], epoch, reply[1]) end
        return removed
        """)

    /// Removes the stats keys an epoch that ended with a Redis restart left behind, once their
    /// totals are reported: without it, every restore from an older snapshot would leave a
    /// stats hash per code clicked in that epoch, for good. At most `steps` SCAN steps of a
    /// thousand keys each, so that Redis is never held long (the scan goes on from there next
    /// time); returns how many keys it removed.
    func dropRetiredStats(steps: Int) async throws -> Int {
        var removed = 0
        for _ in 0..<steps {
            let reply = try await redis.evaluate(
                Self.dropRetiredStatsStepScript, keys: [keys.retiredEpochs, keys.retiredUnreportedClicks],
                arguments: [keys.statsPrefix])
            guard let count = reply.integer else { break }
            removed += Int(count)
        }
        return removed
    }

    /// How many totals wait for a report, retired ones included.
    func unreportedCount() async throws -> Int {
        let current = try await redis.send(["SCARD", keys.unreportedClicks]).integer ?? 0
        let retired = try await redis.send(["SCARD", keys.retiredUnreportedClicks]).integer ?? 0
        return Int(current + retired)
    }
}
