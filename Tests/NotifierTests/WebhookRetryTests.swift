import SharedResilience
import Testing
@testable import Notifier

/// When a failed webhook call is tried again.
@Suite struct WebhookRetryTests {
    @Test func aReceiverIsTriedFourTimesWithGrowingJitteredWaits() {
        let settings = WebhookSettings(urls: [], secret: "s")
        #expect(settings.attempts == 4)
        // Three waits between four tries: up to 200, 400 and 800 ms, never more than 5 s.
        let ceilings = (1..<settings.attempts).map { settings.retry.delay(beforeRetry: $0) }
        #expect(ceilings == [.milliseconds(200), .milliseconds(400), .milliseconds(800)])
        #expect(settings.retry.delay(beforeRetry: 20) == .seconds(5))
        #expect(settings.retry.wait(beforeRetry: 2, fraction: 0.25) == .milliseconds(100))
    }
}
