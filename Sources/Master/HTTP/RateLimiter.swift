import NIOConcurrencyHelpers

/// Token buckets, one per client (an API key or an address): each holds up to ``Settings/burst``
/// tokens, refills at ``Settings/perSecond``, and a request takes one. A client that has used
/// its burst waits for the refill; the answer says how long.
final class RateLimiter: Sendable {
    /// How many requests a client may make.
    struct Settings: Sendable {
        /// Sustained requests per second. Zero turns limiting off.
        var perSecond: Double
        /// Requests a client may make at once after being idle.
        var burst: Double

        init(perSecond: Double, burst: Double) {
            self.perSecond = perSecond
            self.burst = max(1, burst)
        }

        /// No limit.
        static let off = Settings(perSecond: 0, burst: 1)
    }

    /// A request over the limit: retry after `retryAfter`.
    struct Refusal: Error, Equatable {
        let retryAfter: Duration
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    let settings: Settings
    private let now: @Sendable () -> ContinuousClock.Instant
    private let buckets = NIOLockedValueBox<[String: Bucket]>([:])
    /// Buckets idle this long are full again and are dropped (bounds memory).
    private var idleLimit: Duration { .seconds(settings.burst / max(settings.perSecond, 0.001)) + .seconds(1) }

    init(settings: Settings, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.settings = settings
        self.now = now
    }

    /// Whether limiting is on.
    var isEnabled: Bool { settings.perSecond > 0 }

    /// Takes `cost` tokens for `client` (one per item of a bulk request), or throws ``Refusal``
    /// with the wait until it may. A cost above the burst is let through once the bucket is full
    /// and leaves it in debt, so a client's items per second stay at the rate whatever it batches.
    func acquire(for client: String, cost: Int = 1) throws(Refusal) {
        try admit(client, cost: cost, taking: true)
    }

    /// Throws ``Refusal`` when `client` could not take a single token now, taking none: a check
    /// before work that a refused request should not cost (reading a large body).
    func check(for client: String) throws(Refusal) {
        try admit(client, cost: 1, taking: false)
    }

    private func admit(_ client: String, cost: Int, taking: Bool) throws(Refusal) {
        guard isEnabled else { return }
        let instant = now()
        let cost = Double(max(1, cost))
        let wait: Duration? = buckets.withLockedValue { buckets in
            if buckets.count > 10_000 { buckets = buckets.filter { instant - $0.value.updated < idleLimit } }
            var bucket = buckets[client] ?? Bucket(tokens: settings.burst, updated: instant)
            bucket.tokens = min(
                settings.burst, bucket.tokens + (instant - bucket.updated).inSeconds * settings.perSecond)
            bucket.updated = instant
            defer { buckets[client] = bucket }
            let needed = min(cost, settings.burst)
            guard bucket.tokens >= needed else { return .seconds((needed - bucket.tokens) / settings.perSecond) }
            if taking { bucket.tokens -= cost }
            return nil
        }
        if let wait { throw Refusal(retryAfter: wait) }
    }
}
