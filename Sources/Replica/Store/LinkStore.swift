import Foundation
import Metrics
import NIOConcurrencyHelpers
import SharedConfiguration
import SharedEvents
import SharedJSON
import SharedKafka
import SharedLinks
import SharedRedis
import SharedResilience

/// This replica's copy of the links, in its own Redis, and the clicks counted on them.
///
/// An event and its offset are written by one Lua script, atomically: after a crash the replica
/// resumes exactly after the last applied event. If Redis lost its data, the state marker is gone
/// with it: the scripts refuse with ``RedisStateLost`` and the replica rebuilds from offset zero.
/// While it rebuilds (the marker says ``ReplicaKeys/rebuildingPrefix``) no code is served: a link
/// read so far may be deleted or edited further on in the topic, and a deleted link must never
/// come back, so every visit answers "still loading" until the consumer has caught up
/// (``finishRebuild()``). The marker is in Redis, so a replica restarted mid-rebuild goes on
/// rebuilding from the offsets stored so far and still serves nothing until it is done.
/// A redirect looks the code up and counts the click in one script too: one round trip per
/// redirect. Every command goes through the Redis circuit breaker. Key names: ``ReplicaKeys``.
struct LinkStore: Sendable {
    /// What a code resolves to.
    enum Resolution: Equatable {
        /// To the url, as the options say, with the link's campaign query (empty for none).
        case redirect(String, RedirectOptions, campaign: String = "")
        case notFound
        case gone
        /// Not answered yet: the replica is rebuilding its links from the topic (what it holds may
        /// be an older revision), or `replica replay` is removing them (an unknown code may come back).
        case rebuilding
        /// Not counted: the link asks for a password, and the visit gave none it accepts.
        case locked
        /// Not counted: the link has routing (or lost it) and the visit was not decided on its
        /// current revision; decide on this one (``LinkRouting/none`` when it has none) and visit again.
        case decide(revision: Int64, routing: LinkRouting)
    }

    /// The outcome of one visit: where it goes, and the milestone it reached, if any.
    struct Visit: Equatable {
        var resolution: Resolution
        /// Set on every hundredth click of a code.
        var milestone: ClickMilestone?
    }

    /// Clicks of one code are reported to the master at every multiple of this.
    static let milestoneInterval: Int64 = 100

    let redis: GuardedRedis
    let keys: ReplicaKeys
    /// The domains, as the applied domain events left them.
    let domains: DomainTable
    private let markerSet = NIOLockedValueBox(false)
    /// The visits waiting for one call of ``visitScript`` on each event loop.
    private let visitBatches: CallBatcher<VisitRequest, RedisValue>

    init(
        redis: GuardedRedis, namespace: Namespace,
        domains: DomainTable = DomainTable(defaultHost: nil, strictHosts: false),
        maximumValues: Int = ClickLedger.defaultMaximumValues
    ) {
        self.redis = redis
        self.domains = domains
        let keys = ReplicaKeys(namespace: namespace)
        self.keys = keys
        let shared = [ReplicaKeys.epochNonce, keys.freshPrefix, keys.statsPrefix, String(maximumValues)]
        self.visitBatches = CallBatcher(maximumBatch: Self.maximumVisitBatch) { visits in
            var scriptKeys = [keys.clicks, keys.unreportedClicks, keys.epoch, keys.stateMarker]
            var arguments = shared
            scriptKeys.reserveCapacity(scriptKeys.count + visits.count)
            arguments.reserveCapacity(arguments.count + visits.count * 6)
            for visit in visits {
                scriptKeys.append(keys.link(visit.key))
                arguments += [
                    String(visit.nowMilliseconds), visit.key, visit.field, visit.revision, visit.hash,
                    visit.counting ? "1" : "0",
                ]
            }
            let reply = try await redis.evaluate(Self.visitScript, keys: scriptKeys, arguments: arguments)
            return reply.array ?? []
        }
    }

    /// Whether ``startOffsets()`` has set the state marker in this process: from then on a
    /// missing marker means the data was lost.
    var hasSetStateMarker: Bool { markerSet.withLockedValue { $0 } }

    /// `link_events_total{outcome}`: events applied, and events ignored as not newer than what
    /// Redis holds (duplicates, replays). `clicks_counted_total`: redirects counted.
    private static let applied = Counter(label: "link_events_total", dimensions: [("outcome", "applied")])
    private static let stale = Counter(label: "link_events_total", dimensions: [("outcome", "stale")])
    private static let clicksCounted = Counter(label: "clicks_counted_total")
    /// `link_event_lag_seconds`: from an event's time on the master to its write in this Redis,
    /// the replica's share of a new link's way to its first redirect.
    private static let lag = Metrics.Timer(label: "link_event_lag_seconds")

    /// Applies a batch of events, each only if it is newer than what is stored (by revision), and
    /// records each one's offset with it; returns how many were applied.
    /// KEYS: offsets, state marker, then one link or domain key per event. ARGV: fourteen per
    /// event: partition, next offset, revision, state (`active`, `deleted`, `exhausted`, `domain`
    /// for a domain's new state, or `skip` to record only the offset), then for a link its url,
    /// expiry, max clicks, redirect status, flags (``RedirectFlags``), the key of its domain's
    /// crawlable set with the code as its member there, its campaign query, its routing
    /// (``LinkRouting/json``, empty for none) and its password's hash (empty for none); for a
    /// domain the root, not-found and expired pages.
    private static let applyScript = RedisScript(
        """
        \(ReplicaKeys.requireStateLua(markerKey: 2))
        local applied = 0
        for index = 3, #KEYS do
            local base = (index - 3) * 14
            local state = ARGV[base + 4]
            if state ~= 'skip' then
                local stored = tonumber(redis.call('HGET', KEYS[index], 'rev') or '0')
                if tonumber(ARGV[base + 3]) > stored then
                    if state == 'active' then
                        redis.call('HSET', KEYS[index], 'rev', ARGV[base + 3], 'state', 'active',
                            'url', ARGV[base + 5], 'exp', ARGV[base + 6], 'max', ARGV[base + 7],
                            'rt', ARGV[base + 8], 'fl', ARGV[base + 9], 'utm', ARGV[base + 12], 'ro', ARGV[base + 13],
                            'rf', ARGV[base + 13] ~= '' and '1' or '', 'pw', ARGV[base + 14])
                        if string.find(ARGV[base + 9], 'c', 1, true) then
                            redis.call('SADD', ARGV[base + 10], ARGV[base + 11])
                        else
                            redis.call('SREM', ARGV[base + 10], ARGV[base + 11])
                        end
                    elseif state == 'domain' then
                        redis.call('HSET', KEYS[index], 'rev', ARGV[base + 3], 'state', 'active',
                            'root', ARGV[base + 5], 'missing', ARGV[base + 6], 'gone', ARGV[base + 7])
                    else
                        redis.call('HSET', KEYS[index], 'rev', ARGV[base + 3], 'state', state)
                        if ARGV[base + 10] ~= '' then redis.call('SREM', ARGV[base + 10], ARGV[base + 11]) end
                    end
                    applied = applied + 1
                end
            end
            redis.call('HSET', KEYS[1], ARGV[base + 1], ARGV[base + 2])
        end
        return applied
        """)

    /// Resolves codes and, for each that redirects, counts the click, records where it came
    /// from (one field of ``ReplicaKeys/fresh(epoch:code:)``, folded into the stats at the next
    /// report; a new kind of click past ``ClickLedger/maximumFreshFields`` goes straight into
    /// the stats, capped there) and marks the code unreported: the visits of one batch
    /// (``visitBatches``), each decided as if it came alone, in order, in one atomic call.
    /// Gone: deleted, exhausted by the master's total, expired, or used up on this replica.
    /// A link with routing is counted only when the visit was decided on its current revision;
    /// otherwise the script answers the revision and routing to decide on, counting nothing
    /// (so is a decision made for a link that has lost its routing since).
    /// KEYS: clicks, unreported, epoch, state marker, then one link per visit. ARGV: epoch
    /// nonce, fresh key prefix, stats key prefix, most values per dimension, then six per
    /// visit: now (ms), code, the click's attributes (``ClickAttributes/field``, with the
    /// decision's rule and variant for a routed link), the revision the routing was decided on
    /// (empty: none), the password hash the visitor's password was verified against (empty:
    /// none), and `1` to count the click (`0`: a look, decided alike, counting nothing).
    /// Returns one reply per visit: 0 (unknown), 1 (gone), 2 (rebuilding, or unknown
    /// during a replay's wipe), 3 (locked: a password is needed), `{'decide', revision,
    /// routing}`, `{url, status, flags, campaign}`, or `{url, status, flags, campaign, total,
    /// epoch}` on a milestone (status, flags and campaign empty when the hash has none).
    private static let visitScript = RedisScript(
        """
        \(ClickLedger.countClickLua)
        \(ReplicaKeys.requireStateLua(markerKey: 4))
        local rebuilding = string.sub(replicaState, 1, \(ReplicaKeys.rebuildingPrefix.utf8.count)) == '\(ReplicaKeys.rebuildingPrefix)'
        local wiping = string.sub(replicaState, 1, \(ReplicaKeys.wipingPrefix.utf8.count)) == '\(ReplicaKeys.wipingPrefix)'
        local epoch
        -- The codes counted, marked unreported together at the end: one SADD per call.
        local unreported = {}
        local function visit(key, now, code, field, revision, hash, counting)
            if rebuilding then return 2 end
            local link = redis.call('HMGET', key, 'url', 'exp', 'state', 'max', 'rt', 'fl', 'utm', 'rf', 'rev', 'pw')
            -- A deletion may be all a replica ever saw of a code (a backfill): still gone, not unknown.
            if link[3] == 'deleted' or link[3] == 'exhausted' then return 1 end
            if not link[1] then
                if wiping then return 2 end
                return 0
            end
            local expiry = tonumber(link[2])
            if expiry and expiry <= now then return 1 end
            local limit = tonumber(link[4])
            if limit and tonumber(redis.call('HGET', KEYS[1], code) or '0') >= limit then return 1 end
            if (link[10] or '') ~= '' and hash ~= link[10] then return 3 end
            -- 'rf' says the link has routing; the routing itself is read only when a decision is due.
            if ((link[8] or '') ~= '' or revision ~= '') and revision ~= link[9] then
                return {'decide', link[9] or '0', redis.call('HGET', key, 'ro') or ''}
            end
            if counting == '0' then return {link[1], link[5] or '', link[6] or '', link[7] or ''} end
            if not epoch then
                \(ReplicaKeys.ensureEpochLua(epochKey: 3, nonceArgument: 1, declaring: false))
            end
            local total = redis.call('HINCRBY', KEYS[1], code, 1)
            unreported[#unreported + 1] = code
            local fresh = ARGV[2] .. epoch .. ':' .. code
            if redis.call('HINCRBY', fresh, field, 1) == 1
                and redis.call('HLEN', fresh) > \(ClickLedger.maximumFreshFields) then
                redis.call('HDEL', fresh, field)
                count_click(ARGV[3] .. epoch .. ':' .. code, field, 1, tonumber(ARGV[4]))
            end
            local status, flags, campaign = link[5] or '', link[6] or '', link[7] or ''
            if total % \(milestoneInterval) == 0 then return {link[1], status, flags, campaign, total, epoch} end
            return {link[1], status, flags, campaign}
        end
        local replies = {}
        for index = 5, #KEYS do
            local base = 4 + (index - 5) * 6
            replies[index - 4] = visit(KEYS[index], tonumber(ARGV[base + 1]), ARGV[base + 2], ARGV[base + 3],
                ARGV[base + 4], ARGV[base + 5], ARGV[base + 6])
        end
        if #unreported > 0 then redis.call('SADD', KEYS[2], unpack(unreported)) end
        return replies
        """)

    /// One visit as ``visitScript`` takes it.
    struct VisitRequest: Sendable {
        let key: String
        let nowMilliseconds: Int64
        let field: String
        let revision: String
        let hash: String
        /// False for a look (`HEAD`): decided as a visit, nothing counted.
        let counting: Bool
    }

    /// Most visits in one call of ``visitScript``: enough that a busy loop's visits go in a few
    /// calls, few enough that one call keeps Redis busy for well under a millisecond.
    static let maximumVisitBatch = 64

    /// A password attempt on a link: counted per link and client address in a window of its
    /// own, refused past the limit, else answered with the hash to verify against.
    /// KEYS: link, attempts, state marker. ARGV: most attempts, window (s). Returns 0 (unknown),
    /// 1 (gone), 2 (rebuilding), `{'limited', seconds left}`, or `{'hash', hash}` (empty: the
    /// link needs no password).
    private static let attemptScript = RedisScript(
        """
        \(ReplicaKeys.requireStateLua(markerKey: 3))
        if string.sub(replicaState, 1, \(ReplicaKeys.rebuildingPrefix.utf8.count)) == '\(ReplicaKeys.rebuildingPrefix)' then return 2 end
        local link = redis.call('HMGET', KEYS[1], 'url', 'state', 'pw')
        if link[2] == 'deleted' or link[2] == 'exhausted' then return 1 end
        if not link[1] then return 0 end
        local tries = redis.call('INCR', KEYS[2])
        if tries == 1 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2])) end
        if tries > tonumber(ARGV[1]) then return {'limited', redis.call('TTL', KEYS[2])} end
        return {'hash', link[3] or ''}
        """)

    /// What a password attempt may go on to.
    enum Attempt: Equatable {
        /// Verify against this hash (nil: the link needs no password).
        case verify(hash: String?)
        /// Too many attempts: try again in this many seconds.
        case limited(seconds: Int)
        case resolved(Resolution)
    }

    /// Counts a password attempt on a link from `client` (at most `limit` in `window`) and
    /// answers the hash to verify against.
    func attempt(_ key: String, from client: String, limit: Int, window: Duration) async throws -> Attempt {
        let reply = try await redis.evaluate(
            Self.attemptScript, keys: [keys.link(key), keys.passwordAttempts(key, client: client), keys.stateMarker],
            arguments: [String(limit), String(window.components.seconds)])
        guard let fields = reply.array, fields.count == 2, let kind = fields[0].string else {
            switch reply.integer {
            case 1: return .resolved(.gone)
            case 2: return .resolved(.rebuilding)
            default: return .resolved(.notFound)
            }
        }
        if kind == "limited" { return .limited(seconds: Int(max(1, fields[1].integer ?? 1))) }
        return .verify(hash: fields[1].string.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// Where to start reading: partition → next offset, with ``domains`` loaded as Redis holds
    /// them. Sets the state marker first; if it was
    /// missing, or a replay's wipe never finished, whatever offsets survived are dropped and the
    /// marker says rebuilding, so a Redis that lost data is rebuilt from offset zero and serves
    /// nothing until then. KEYS: state marker, offsets. ARGV: the time, for people reading Redis.
    private static let startScript = RedisScript(
        """
        local state = redis.call('GET', KEYS[1])
        if not state or string.sub(state, 1, \(ReplicaKeys.wipingPrefix.utf8.count)) == '\(ReplicaKeys.wipingPrefix)' then
            redis.call('DEL', KEYS[2])
            redis.call('SET', KEYS[1], '\(ReplicaKeys.rebuildingPrefix)' .. ARGV[1])
        end
        return redis.call('HGETALL', KEYS[2])
        """)

    /// KEYS: state marker. ARGV: the time. Ends a rebuild: the marker says the links are
    /// complete. Nothing changes during a replay's wipe; a lost marker fails with `STATE_LOST`.
    private static let finishRebuildScript = RedisScript(
        """
        \(ReplicaKeys.requireStateLua(markerKey: 1))
        if string.sub(replicaState, 1, \(ReplicaKeys.rebuildingPrefix.utf8.count)) == '\(ReplicaKeys.rebuildingPrefix)' then
            redis.call('SET', KEYS[1], ARGV[1])
            return 1
        end
        return 0
        """)

    /// KEYS: state marker. ARGV: the time. Marks the links as rebuilding unless a replay is
    /// wiping them; a lost marker fails with `STATE_LOST`.
    private static let startRebuildScript = RedisScript(
        """
        \(ReplicaKeys.requireStateLua(markerKey: 1))
        if string.sub(replicaState, 1, \(ReplicaKeys.wipingPrefix.utf8.count)) ~= '\(ReplicaKeys.wipingPrefix)' then
            redis.call('SET', KEYS[1], '\(ReplicaKeys.rebuildingPrefix)' .. ARGV[1])
        end
        return 1
        """)

    /// Removes up to a thousand link keys of one SCAN step; returns the next cursor and how
    /// many were removed. KEYS: none. ARGV: cursor, link key pattern.
    private static let wipeStepScript = RedisScript(
        """
        local reply = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', 1000)
        local found = reply[2]
        local removed = 0
        for first = 1, #found, 500 do
            removed = removed + redis.call('UNLINK', unpack(found, first, math.min(first + 499, #found)))
        end
        return {reply[1], removed}
        """)

    /// Applies messages of `<ns>-links` in one script call (one round trip for a whole polled
    /// batch); an unusable one is dead-lettered first and only its offset recorded, so the
    /// partition keeps moving.
    func apply(_ messages: [KafkaMessage], deadLetters: DeadLetterQueue) async throws {
        guard !messages.isEmpty else { return }
        var scriptKeys = [keys.offsets, keys.stateMarker]
        var arguments: [String] = []
        scriptKeys.reserveCapacity(messages.count + 2)
        arguments.reserveCapacity(messages.count * 14)
        var events = 0
        var occurred: [Date] = []
        occurred.reserveCapacity(messages.count)
        var changedDomains: [String] = []
        for message in messages {
            let position = [String(message.partition), String(message.offset + 1)]
            if DomainEvent.isDomainKey(message.key) {
                guard let event = try await deadLetters.decode(message, with: EventCodec.decodeDomainEvent) else {
                    scriptKeys.append(keys.offsets)
                    arguments += position + ["0", "skip", "", "", "", "", "", "", "", "", "", ""]
                    continue
                }
                let name = event.domain ?? ""
                scriptKeys.append(keys.domain(name))
                arguments +=
                    position
                    + [
                        String(event.revision), event.type == .deleted ? "deleted" : "domain", event.rootURL ?? "",
                        event.notFoundURL ?? "", event.expiredURL ?? "", "", "", "", "", "", "", "",
                    ]
                changedDomains.append(name)
                events += 1
                occurred.append(event.occurredAt)
                continue
            }
            guard let event = try await deadLetters.decode(message, with: EventCodec.decodeLinkEvent) else {
                scriptKeys.append(keys.offsets)
                arguments += position + ["0", "skip", "", "", "", "", "", "", "", "", "", ""]
                continue
            }
            let state =
                switch event.type {
                case .created: "active"
                case .updated: event.exhausted == true ? "exhausted" : "active"
                case .deleted: "deleted"
                case .exhausted: "exhausted"
                }
            let expiry = event.expiresAt.map { String(Int64($0.timeIntervalSince1970 * 1000)) } ?? ""
            // Links created before targets were normalised may carry raw UTF-8: serve their URI form.
            let url = event.url.map { url in
                url.utf8.allSatisfy { $0 < 0x80 } ? url : (try? TargetURL.normalized(url)) ?? url
            }
            scriptKeys.append(keys.link(event.address.key))
            let redirect = event.redirect
            arguments +=
                position + [
                    String(event.revision), state, url ?? "", expiry, event.maxClicks.map(String.init) ?? "",
                    String(redirect.status.rawValue), RedirectFlags(redirect).text,
                    keys.crawlable(event.address.domain ?? ""), event.code, event.utm ?? "",
                    event.routing.map { String(decoding: $0.json, as: UTF8.self) } ?? "", event.passwordHash ?? "",
                ]
            events += 1
            occurred.append(event.occurredAt)
        }
        let applied = Int(
            try await redis.evaluate(Self.applyScript, keys: scriptKeys, arguments: arguments).integer ?? 0)
        let now = Date()
        for time in occurred { Self.lag.recordSeconds(max(0, now.timeIntervalSince(time))) }
        Self.applied.increment(by: applied)
        Self.stale.increment(by: events - applied)
        for name in Set(changedDomains) { domains.set(name, try await storedDomain(name)) }
    }

    /// A domain's fallbacks as Redis holds them; nil when it is unknown or removed.
    private func storedDomain(_ name: String) async throws -> DomainTable.Fallbacks? {
        let fields = try await redis.send(["HMGET", keys.domain(name), "state", "root", "missing", "gone"]).array ?? []
        guard fields.count == 4, fields[0].string == "active" else { return nil }
        func page(_ value: RedisValue) -> String? { value.string.flatMap { $0.isEmpty ? nil : $0 } }
        return DomainTable.Fallbacks(
            rootURL: page(fields[1]), notFoundURL: page(fields[2]), expiredURL: page(fields[3]))
    }

    /// Fills ``domains`` from Redis: at start, before the consumer applies anything newer.
    func loadDomains() async throws {
        var names: [String] = []
        var cursor = "0"
        let prefix = keys.domain("")
        repeat {
            let reply = try await redis.send(["SCAN", cursor, "MATCH", keys.domainPattern, "COUNT", "1000"])
            guard let fields = reply.array, fields.count == 2, let next = fields[0].string else { break }
            cursor = next
            for key in fields[1].array ?? [] {
                if let key = key.string, key.hasPrefix(prefix) { names.append(String(key.dropFirst(prefix.count))) }
            }
        } while cursor != "0"
        var all: [String: DomainTable.Fallbacks] = [:]
        for name in names {
            if let fallbacks = try await storedDomain(name) { all[name] = fallbacks }
        }
        domains.replaceAll(with: all)
    }

    /// Partition → next offset to read, as recorded with the applied events; empty when this
    /// Redis has to be filled from the start (see `startScript`).
    func startOffsets() async throws -> [Int32: Int64] {
        let reply = try await redis.evaluate(
            Self.startScript, keys: [keys.stateMarker, keys.offsets], arguments: [RFC3339.format(Date())])
        markerSet.withLockedValue { $0 = true }
        try await loadDomains()
        return Self.offsets(from: reply)
    }

    /// Partition → offset, from the offsets hash as HGETALL returns it.
    private static func offsets(from reply: RedisValue) -> [Int32: Int64] {
        let fields = reply.array ?? []
        var offsets: [Int32: Int64] = [:]
        for index in stride(from: 0, to: fields.count - 1, by: 2) {
            if let partition = fields[index].integer, let offset = fields[index + 1].integer {
                offsets[Int32(partition)] = offset
            }
        }
        return offsets
    }

    /// Forgets every link and offset of the namespace and the state marker, so the links are
    /// filled again from offset zero; click counts and the epoch stay (unreported clicks must not
    /// be lost). Returns how many links were removed.
    ///
    /// The links go in steps of a thousand keys, never in one long call, so Redis keeps serving
    /// redirects throughout. Meanwhile the state marker says `wiping:`, and a code already
    /// removed answers "still loading" (503), not "unknown". Last, the marker and the offsets go
    /// together: a replica running on this Redis then rebuilds from offset zero (whatever it
    /// applied during the wipe included), and a replica started after an interrupted wipe does
    /// the same.
    func wipe() async throws -> Int {
        _ = try await redis.send(["SET", keys.stateMarker, ReplicaKeys.wipingPrefix + RFC3339.format(Date())])
        var cursor = "0"
        var removed = 0
        repeat {
            let reply = try await redis.evaluate(Self.wipeStepScript, keys: [], arguments: [cursor, keys.linkPattern])
            guard let fields = reply.array, fields.count == 2, let next = fields[0].string else { break }
            cursor = next
            removed += Int(fields[1].integer ?? 0)
        } while cursor != "0"
        _ = try await redis.send(["DEL", keys.stateMarker, keys.offsets])
        return removed
    }

    /// Records that the links are complete: the consumer has read the topic to the end it had
    /// when this rebuild (or a later restart of it) began. Returns whether a rebuild ended.
    @discardableResult
    func finishRebuild() async throws -> Bool {
        let reply = try await redis.evaluate(
            Self.finishRebuildScript, keys: [keys.stateMarker], arguments: [RFC3339.format(Date())])
        return reply.integer == 1
    }

    /// Stops serving until the consumer has caught up again: for a Redis that restarted from an
    /// older snapshot, whose links may be older revisions than the ones already served.
    func startRebuild() async throws {
        _ = try await redis.evaluate(
            Self.startRebuildScript, keys: [keys.stateMarker], arguments: [RFC3339.format(Date())])
    }

    /// Whether the links are complete: the state marker is set and says neither rebuilding nor wiping.
    func isComplete() async throws -> Bool {
        guard let state = try await redis.send(["GET", keys.stateMarker]).string else { return false }
        return !state.hasPrefix(ReplicaKeys.rebuildingPrefix) && !state.hasPrefix(ReplicaKeys.wipingPrefix)
    }

    /// Partition → next offset to read, as applied so far (nothing is changed).
    func appliedOffsets() async throws -> [Int32: Int64] {
        Self.offsets(from: try await redis.send(["HGETALL", keys.offsets]))
    }

    /// How many links this Redis holds (deleted ones included), counted with SCAN.
    func linkCount() async throws -> Int {
        var cursor = "0"
        var count = 0
        repeat {
            let reply = try await redis.send(["SCAN", cursor, "MATCH", keys.linkPattern, "COUNT", "1000"])
            guard let fields = reply.array, fields.count == 2, let next = fields[0].string else { break }
            cursor = next
            count += fields[1].array?.count ?? 0
        } while cursor != "0"
        return count
    }

    /// The id of the replica that serves from this Redis now, if one does (its ``ReplicaLease``).
    func runningReplica() async throws -> String? {
        try await redis.send(["GET", keys.heartbeat]).string.map(ReplicaLease.replicaID(of:))
    }

    /// Up to `limit` codes of `domain`'s crawlable links (nil: the default domain), read with SSCAN.
    func crawlableCodes(of domain: String?, limit: Int) async throws -> [String] {
        var codes: [String] = []
        var cursor = "0"
        repeat {
            let reply = try await redis.send(["SSCAN", keys.crawlable(domain ?? ""), cursor, "COUNT", "1000"])
            guard let fields = reply.array, fields.count == 2, let next = fields[0].string else { break }
            cursor = next
            codes += (fields[1].array ?? []).compactMap(\.string)
        } while cursor != "0" && codes.count < limit
        return Array(codes.prefix(limit))
    }

    /// Resolves a link (by its ``LinkAddress/key``) and, if it redirects, counts the click with
    /// its `attributes`: one round trip, shared with the other visits of its batch. A routed
    /// link's visit carries the decision made on its routing and the revision of that routing;
    /// without one (or on an older revision) it answers ``Resolution/decide(revision:routing:)``
    /// and counts nothing. With `counting` false (a `HEAD`) it is decided alike and counts nothing.
    func visit(
        _ key: String, attributes: ClickAttributes, decided: RoutedVisit? = nil, unlockedWith hash: String? = nil,
        counting: Bool = true, now: Date = Date()
    ) async throws -> Visit {
        let field =
            decided.map { attributes.field + "\t" + $0.decision.ruleValue + "\t" + ($0.decision.variantValue ?? "-") }
            ?? attributes.field
        let reply = try await visitBatches.call(
            VisitRequest(
                key: key, nowMilliseconds: Int64(now.timeIntervalSince1970 * 1000), field: field,
                revision: decided.map { String($0.revision) } ?? "", hash: hash ?? "", counting: counting))
        if let fields = reply.array, fields.count == 3, fields[0].string == "decide" {
            let revision = fields[1].string.flatMap { Int64($0) } ?? fields[1].integer ?? 0
            let text = fields[2].string ?? ""
            // Written by this replica from a checked event: a routing that does not read back is none.
            let routing = text.isEmpty ? LinkRouting.none : (try? LinkRouting.parse(Array(text.utf8))) ?? .none
            return Visit(resolution: .decide(revision: revision, routing: routing))
        }
        guard let fields = reply.array, let url = fields.first?.string else {
            let resolution: Resolution =
                switch reply.integer {
                case 1: .gone
                case 2: .rebuilding
                case 3: .locked
                default: .notFound
                }
            return Visit(resolution: resolution)
        }
        if counting { Self.clicksCounted.increment() }
        let flags = RedirectFlags(text: fields.count > 2 ? fields[2].string.flatMap { $0.isEmpty ? nil : $0 } : nil)
        let options = RedirectOptions(
            status: fields.count > 1
                ? fields[1].string.flatMap(Int.init).flatMap(RedirectOptions.Status.init) ?? .found
                : .found,
            forwardQuery: flags.forwardQuery, crawlable: flags.crawlable)
        let resolution = Resolution.redirect(url, options, campaign: fields.count > 3 ? fields[3].string ?? "" : "")
        guard fields.count == 6, let total = fields[4].integer, let epoch = fields[5].string else {
            return Visit(resolution: resolution)
        }
        return Visit(resolution: resolution, milestone: ClickMilestone(linkKey: key, total: total, epoch: epoch))
    }
}

/// A visit of a routed link as decided: on the routing of which revision, and the decision.
struct RoutedVisit: Sendable, Equatable {
    let revision: Int64
    let decision: LinkRouting.Decision
}

/// A code's running click total on this replica reached a multiple of ``LinkStore/milestoneInterval``.
struct ClickMilestone: Equatable, Sendable {
    /// The link's ``LinkAddress/key``.
    let linkKey: String
    let total: Int64
    let epoch: String
}

/// A link's redirect options as its Redis hash keeps them beside the status: `q` when the
/// visitor's query is forwarded, `c` when it is crawlable. A hash written before the field
/// existed has none, which reads as the defaults.
struct RedirectFlags: Equatable {
    var forwardQuery: Bool
    var crawlable: Bool

    init(_ options: RedirectOptions) {
        forwardQuery = options.forwardQuery
        crawlable = options.crawlable
    }

    /// Reads the field; nil (absent) gives the defaults.
    init(text: String?) {
        // Byte checks: every redirect reads the field, and `String.contains` searches through Foundation.
        forwardQuery = text.map { $0.utf8.contains(UInt8(ascii: "q")) } ?? RedirectOptions.standard.forwardQuery
        crawlable = text.map { $0.utf8.contains(UInt8(ascii: "c")) } ?? RedirectOptions.standard.crawlable
    }

    /// The field as stored: `q`, `c`, `qc` or `-` for neither.
    var text: String {
        let text = (forwardQuery ? "q" : "") + (crawlable ? "c" : "")
        return text.isEmpty ? "-" : text
    }
}
