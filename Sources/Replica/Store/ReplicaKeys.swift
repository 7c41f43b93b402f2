import SharedConfiguration

/// The names of everything a replica keeps in its Redis, all under `<ns>:`.
struct ReplicaKeys: Sendable {
    let namespace: Namespace

    /// `<ns>:link:<key>` (the link's ``LinkAddress/key``): a hash with `url`, `exp` (ms since
    /// 1970, or empty), `max` (visits allowed, or empty), `state` (`active`, `deleted`,
    /// `exhausted`), `rev`, `rt` (the redirect status; absent: 302), `fl` (``RedirectFlags``;
    /// absent: the query forwarded, not crawlable), `utm`, `ro` (``LinkRouting/json``; empty or
    /// absent: none), `rf` (`1` when `ro` is not empty, so that a visit reads the flag, not the
    /// routing) and `pw` (the password's argon2id hash; empty or absent: none).
    func link(_ key: String) -> String { linkPrefix + key }
    /// `<ns>:password-tries:<key>:<client address>`: password attempts on a link from one
    /// address in the current window; expires with it.
    func passwordAttempts(_ key: String, client: String) -> String {
        namespace.redisKey("password-tries:" + key + ":" + client)
    }
    /// `<ns>:domain:<name>` (`<ns>:domain:` for the default domain): a hash with `rev`, `state`
    /// (`active`, `deleted`) and the fallback pages `root`, `missing`, `gone` (empty: none).
    func domain(_ name: String) -> String { domainPrefix + name }
    /// The pattern of every domain key, for SCAN.
    var domainPattern: String { domainPrefix + "*" }
    /// `<ns>:crawlable:<domain>` (`<ns>:crawlable:` for the default domain): the codes of the
    /// domain's live links that search engines may index, for its `robots.txt`.
    func crawlable(_ domain: String) -> String { crawlablePrefix + domain }
    /// `<ns>:offsets:<ns>-links`: partition → next offset to read, written with each event.
    let offsets: String
    /// `<ns>:clicks`: link key → clicks counted in the current epoch.
    let clicks: String
    /// `<ns>:clicks:unreported`: the codes whose count moved since it was last acknowledged by Kafka.
    let unreportedClicks: String
    /// `<ns>:epoch`: this Redis's life; created with the first click after the data was lost.
    let epoch: String
    /// `<ns>:replica-state`: set when the replica (re)starts filling this Redis from the links
    /// topic. Its absence means the data was lost (a restart without persistence, a flush):
    /// scripts then refuse with `STATE_LOST` and the replica rebuilds from offset zero. Its value
    /// starts with ``ReplicaKeys/rebuildingPrefix`` until that rebuild has caught up, with
    /// ``ReplicaKeys/wipingPrefix`` while `replica replay` removes the links, else it is the time
    /// the links were last complete.
    let stateMarker: String

    /// `<ns>:clicks:retired`: `<epoch>|<code>` → the running total an earlier epoch had left
    /// unreported when Redis restarted; reported like current totals, then removed.
    let retiredClicks: String
    /// `<ns>:clicks:retired:unreported`: the `<epoch>|<code>` members still to report.
    let retiredUnreportedClicks: String
    /// `<ns>:epochs:retired`: epoch → SCAN cursor, for the epochs that ended with a Redis restart
    /// whose stats keys are still to be removed (``ClickLedger/dropRetiredStats(steps:)``).
    let retiredEpochs: String
    /// `<ns>:stats:<epoch>:<code>`: where one epoch's clicks on one code came from, as running
    /// totals: `h<yyyyMMddHH>`, `r<referrer>`, `c<country>`, `d<device>`, `b<browser>`,
    /// `o<os>`, `u<rule>` and `v<variant>` (routed links only) for human clicks, the same
    /// letters upper-case for bots, and `#r` … `#v`: how many
    /// distinct values a dimension holds (at most the cap; the rest count as `other`).
    func stats(epoch: String, code: String) -> String { statsPrefix + epoch + ":" + code }
    /// The part of every stats key before the epoch (scripts build the keys they count in).
    let statsPrefix: String
    /// `<ns>:fresh:<epoch>:<code>`: clicks since the code's last report, one field per kind of
    /// click (``ClickAttributes/field``) → clicks, at most ``ClickLedger/maximumFreshFields``
    /// fields; folded into the stats hash and removed when the next report reads the code.
    func fresh(epoch: String, code: String) -> String { freshPrefix + epoch + ":" + code }
    /// The part of every fresh key before the epoch.
    let freshPrefix: String
    /// `<ns>:redis-run-id`: the `run_id` of the Redis server process that holds this data. Another
    /// value means Redis restarted, possibly from an older snapshot: the replica then starts a
    /// new click epoch and reads the links again from the offsets stored here.
    let redisRunID: String

    /// `<ns>:replica-alive`: `<replica id> <run id>` of the replica process serving from this
    /// Redis (``ReplicaLease``), renewed every second with a 3 s expiry; a second process
    /// refuses to start, and `replica replay` leaves the rebuild to a replica that is alive.
    let heartbeat: String
    /// The pattern of every link key, for SCAN.
    var linkPattern: String { linkPrefix + "*" }

    private let linkPrefix: String
    private let domainPrefix: String
    private let crawlablePrefix: String

    /// Every name is made once: redirects build only the link key.
    init(namespace: Namespace) {
        self.namespace = namespace
        linkPrefix = namespace.redisKey("link:")
        domainPrefix = namespace.redisKey("domain:")
        crawlablePrefix = namespace.redisKey("crawlable:")
        offsets = namespace.redisKey("offsets:\(namespace.linksTopic)")
        clicks = namespace.redisKey("clicks")
        unreportedClicks = namespace.redisKey("clicks:unreported")
        epoch = namespace.redisKey("epoch")
        stateMarker = namespace.redisKey("replica-state")
        heartbeat = namespace.redisKey("replica-alive")
        retiredClicks = namespace.redisKey("clicks:retired")
        retiredUnreportedClicks = namespace.redisKey("clicks:retired:unreported")
        retiredEpochs = namespace.redisKey("epochs:retired")
        redisRunID = namespace.redisKey("redis-run-id")
        statsPrefix = namespace.redisKey("stats:")
        freshPrefix = namespace.redisKey("fresh:")
    }

    /// Lua: fails the script with `STATE_LOST` unless `KEYS[markerKey]` exists; otherwise
    /// `local replicaState` holds its value (``wipingPrefix`` and a time while `replica replay`
    /// removes the links in chunks).
    static func requireStateLua(markerKey: Int) -> String {
        """
        local replicaState = redis.call('GET', KEYS[\(markerKey)])
        if not replicaState then
            return redis.error_reply('STATE_LOST: the replica data in this Redis is gone')
        end
        """
    }

    /// How the state marker's value starts while `replica replay` removes the links: an
    /// unknown code then means "not loaded yet", not "no such link".
    static let wipingPrefix = "wiping:"

    /// How the state marker's value starts while the links are rebuilt from the topic: every
    /// code then answers "still loading", since what is stored may be an older revision.
    static let rebuildingPrefix = "rebuilding:"

    /// Random per process, part of every epoch this process creates: two epochs never collide
    /// even if two replicas' Redis servers read the same clock.
    static let epochNonce = String(UInt32.random(in: .min ... .max), radix: 16)

    /// Lua: `local epoch`, read from `KEYS[epochKey]`, or created from Redis's clock (µs) and
    /// `ARGV[nonceArgument]` when missing. Every script that counts or reports starts with it,
    /// so all the counts of one life of the data belong to one epoch.
    /// `declaring: false` assigns an `epoch` declared before.
    static func ensureEpochLua(epochKey: Int, nonceArgument: Int, declaring: Bool = true) -> String {
        """
        \(declaring ? "local " : "")epoch = redis.call('GET', KEYS[\(epochKey)])
        if not epoch then
            local now = redis.call('TIME')
            epoch = now[1] .. string.format('%06d', tonumber(now[2])) .. '-' .. ARGV[\(nonceArgument)]
            redis.call('SET', KEYS[\(epochKey)], epoch)
        end
        """
    }
}
