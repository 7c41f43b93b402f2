import TestSupport
@testable import Master
import Testing

@Suite struct RateLimiterTests {
    @Test func allowsTheBurstThenOneRequestPerRefill() throws {
        let clock = ManualClock()
        let limiter = RateLimiter(settings: .init(perSecond: 2, burst: 3)) { clock.now }
        for _ in 0..<3 { try limiter.acquire(for: "key") }
        let refusal = #expect(throws: RateLimiter.Refusal.self) { try limiter.acquire(for: "key") }
        #expect(refusal?.retryAfter == .milliseconds(500))
        clock.advance(by: .milliseconds(250))
        #expect(throws: RateLimiter.Refusal.self) { try limiter.acquire(for: "key") }
        clock.advance(by: .milliseconds(250))
        try limiter.acquire(for: "key")
        #expect(throws: RateLimiter.Refusal.self) { try limiter.acquire(for: "key") }
    }

    @Test func clientsHaveTheirOwnBucketsAndIdleOnesRefillToTheBurstOnly() throws {
        let clock = ManualClock()
        let limiter = RateLimiter(settings: .init(perSecond: 1, burst: 2)) { clock.now }
        try limiter.acquire(for: "a")
        try limiter.acquire(for: "a")
        try limiter.acquire(for: "b")
        #expect(throws: RateLimiter.Refusal.self) { try limiter.acquire(for: "a") }
        clock.advance(by: .seconds(60))
        try limiter.acquire(for: "a")
        try limiter.acquire(for: "a")
        #expect(throws: RateLimiter.Refusal.self) { try limiter.acquire(for: "a") }
    }

    @Test func zeroPerSecondTurnsLimitingOff() throws {
        let limiter = RateLimiter(settings: .init(perSecond: 0, burst: 1))
        for _ in 0..<1000 { try limiter.acquire(for: "key") }
    }

    @Test func aClientsOwnSettingsReplaceTheDefaultForItAlone() throws {
        let limiter = RateLimiter(settings: .init(perSecond: 0.001, burst: 1))
        let generous = RateLimiter.Settings(perSecond: 0.001, burst: 3)
        for _ in 0..<3 { try limiter.acquire(for: "importer", own: generous) }
        #expect(throws: RateLimiter.Refusal.self) { try limiter.acquire(for: "importer", own: generous) }
        for _ in 0..<100 { try limiter.acquire(for: "unlimited", own: .off) }
        try limiter.acquire(for: "plain")
        #expect(throws: RateLimiter.Refusal.self) { try limiter.acquire(for: "plain") }
    }
}

/// A bulk request takes one token per item.
@Suite struct RateLimiterCostTests {
    @Test func aBatchTakesATokenPerItemAndMayLeaveTheBucketInDebt() throws {
        let clock = ManualClock()
        let limiter = RateLimiter(settings: .init(perSecond: 10, burst: 20), now: { clock.now })
        try limiter.acquire(for: "k", cost: 15)
        #expect(throws: RateLimiter.Refusal.self) { try limiter.acquire(for: "k", cost: 6) }
        try limiter.acquire(for: "k", cost: 5)
        // A full bucket lets a batch bigger than the burst in, once; then the debt is paid first.
        clock.advance(by: .seconds(2))
        try limiter.acquire(for: "k", cost: 100)
        do {
            try limiter.acquire(for: "k")
            Issue.record("a client in debt was let in")
        } catch {
            #expect(error.retryAfter == .seconds(8.1))
        }
        clock.advance(by: .seconds(8.1))
        try limiter.acquire(for: "k")
    }
}
