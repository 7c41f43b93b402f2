import SharedResilience
import Testing

/// The one retry schedule of the project (``RetryPolicy``).
@Suite struct RetryPolicyTests {
    @Test func delaysDoubleFromTheFirstUpToTheCap() {
        let policy = RetryPolicy(initialDelay: .milliseconds(200), maximumDelay: .seconds(5))
        let delays = (1...8).map { policy.delay(beforeRetry: $0) }
        #expect(
            delays == [200, 400, 800, 1600, 3200, 5000, 5000, 5000].map { Duration.milliseconds($0) })
        #expect(policy.delay(beforeRetry: 1_000_000) == .seconds(5), "no overflow after many failures")
        #expect(policy.delay(beforeRetry: 0) == .milliseconds(200))
    }

    @Test func eachWaitIsAShareOfItsDelay() {
        let policy = RetryPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(1))
        #expect(policy.wait(beforeRetry: 3, fraction: 0) == .zero)
        #expect(policy.wait(beforeRetry: 3, fraction: 0.5) == .milliseconds(200))
        #expect(policy.wait(beforeRetry: 3, fraction: 7) == .milliseconds(400), "a fraction past 1 is 1")
        for retry in 1...10 {
            let wait = policy.wait(beforeRetry: retry)
            #expect(wait >= .zero && wait <= policy.delay(beforeRetry: retry))
        }
    }
}
