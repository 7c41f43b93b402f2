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
        /// When it is full again and may be dropped.
        var idleLimit: Duration
    }

    let settings: Settings
    private let now: @Sendable () -> ContinuousClock.Instant
    private let buckets = NIOLockedValueBox<[String: Bucket]>([:])

    init(settings: Settings, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.settings = settings
        self.now = now
    }

    /// Takes `cost` tokens for `client` (one per item of a bulk request), or throws ``Refusal``
    /// with the wait until it may. A cost above the burst is let through once the bucket is full
    /// and leaves it in debt, so a client's items per second stay at the rate whatever it batches.
    /// `own` replaces the limiter's settings for this client (an API key's own limit).
    func acquire(for client: String, cost: Int = 1, own: Settings? = nil) throws(Refusal) {
        try admit(client, cost: cost, taking: true, settings: own ?? settings)
    }

    /// Throws ``Refusal`` when `client` could not take a single token now, taking none: a check
    /// before work that a refused request should not cost (reading a large body).
    func check(for client: String, own: Settings? = nil) throws(Refusal) {
        try admit(client, cost: 1, taking: false, settings: own ?? settings)
    }

    private func admit(_ client: String, cost: Int, taking: Bool, settings: Settings) throws(Refusal) {
        guard settings.perSecond > 0 else { return }
        let instant = now()
        let cost = Double(max(1, cost))
        let wait: Duration? = buckets.withLockedValue { buckets in
            // Buckets idle until full again are dropped (bounds memory).
            if buckets.count > 10_000 { buckets = buckets.filter { instant - $0.value.updated < $0.value.idleLimit } }
            var bucket =
                buckets[client]
                ?? Bucket(
                    tokens: settings.burst, updated: instant,
                    idleLimit: .seconds(settings.burst / settings.perSecond) + .seconds(1))
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
