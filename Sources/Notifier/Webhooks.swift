import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import Metrics
import NIOCore
import SharedOutbound
import SharedResilience

/// Where and how the notifier posts its notifications.
struct WebhookSettings: Sendable {
    /// Receivers; each gets every notification.
    var urls: [String]
    /// The key of the `X-Shortener-Signature` HMAC.
    var secret: String
    /// Tries per notification and receiver. Default: 4.
    var attempts = 4
    /// The waits between tries: from 200 ms, doubled for each further one up to 5 s, with full
    /// jitter.
    var retry = RetryPolicy(initialDelay: .milliseconds(200), maximumDelay: .seconds(5))
    /// Longest wait for one answer. Default: 5 s.
    var timeout: Duration = .seconds(5)
    /// Whether receivers on loopback, private and link-local addresses are called. Default: false.
    var allowsPrivateAddresses = false
}

/// Posts each notification as JSON to every webhook, concurrently, signed with HMAC-SHA256.
///
/// Each receiver has its own circuit breaker: a receiver that keeps failing is skipped at once
/// (its breaker open) until a probe succeeds, so it never holds up the others or the consumer
/// for long. Failures are retried with exponential backoff and full jitter; a `4xx` other than
/// `408` and `429` is the receiver's final answer and is not retried. Redirects are not followed
/// (a `3xx` is a refusal), receivers whose host is not public are not called unless allowed
/// (``PublicAddressPolicy``), and logs show a receiver's origin only, never its path.
///
/// Headers: `X-Shortener-Event` (the event type), `X-Shortener-Event-ID` (receivers deduplicate
/// by it: delivery is at-least-once), `X-Shortener-Signature: t=<unix seconds>,v1=<hex>` where
/// `v1` is HMAC-SHA256 over `<t>.<body>` with the shared secret.
final class WebhookDispatcher: Sendable {
    /// What happened to one notification at one receiver.
    enum Outcome: String, Sendable {
        /// Answered `2xx`.
        case delivered
        /// Answered a `4xx` that retrying cannot change.
        case refused
        /// Still failing after every try.
        case failed
        /// Its circuit breaker is open.
        case skipped
        /// Its address is not allowed (see ``PublicAddressPolicy``).
        case blocked
        /// The notifier was stopped before the retry policy ended: the event is not done.
        case interrupted
    }

    private struct Webhook: Sendable {
        let url: String
        let host: String
        let breaker: CircuitBreaker
        /// Its client, connected to the checked address (unless private receivers are allowed).
        let pinned = PinnedHTTPClient()
    }

    /// A receiver's answer that says it is failing (retry, and count against its breaker).
    private struct ReceiverFailure: Error, CustomStringConvertible {
        let status: UInt
        var description: String { "answered \(status)" }
    }

    private let settings: WebhookSettings
    private let policy: PublicAddressPolicy
    private let webhooks: [Webhook]
    private let client: HTTPClient
    private let logger: Logger

    init(settings: WebhookSettings, client: HTTPClient, logger: Logger) {
        self.settings = settings
        self.client = client
        self.logger = logger
        self.policy = PublicAddressPolicy(allowsPrivateAddresses: settings.allowsPrivateAddresses)
        var breakerSettings = CircuitBreaker.Settings()
        breakerSettings.callTimeout = settings.timeout
        webhooks = settings.urls.map { url in
            let host = URLComponents(string: url)?.host ?? ""
            return Webhook(
                url: url, host: host,
                breaker: CircuitBreaker(dependency: "webhook \(host)", settings: breakerSettings, logger: logger))
        }
    }

    /// Shuts down the webhooks' own clients (at the notifier's stop).
    func shutdownPinnedClients() async {
        for webhook in webhooks { await webhook.pinned.shutdown() }
    }

    /// The signature header's value for `body` at `time`.
    static func signature(of body: [UInt8], secret: String, at time: Date) -> String {
        let timestamp = String(Int(time.timeIntervalSince1970))
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array("\(timestamp).".utf8) + body, using: SymmetricKey(data: Array(secret.utf8)))
        return "t=\(timestamp),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Posts `body` to every webhook; returns each receiver's outcome once all are settled.
    /// Throws `CancellationError` when the task was cancelled before every receiver's outcome
    /// was final, so that the consumer never marks an undelivered event done.
    func deliver(type: String, eventID: String, body: [UInt8]) async throws -> [Outcome] {
        let outcomes = await withTaskGroup(of: Outcome.self) { group in
            for webhook in webhooks {
                group.addTask { await self.deliver(type: type, eventID: eventID, body: body, to: webhook) }
            }
            var outcomes: [Outcome] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        if outcomes.contains(.interrupted) { throw CancellationError() }
        return outcomes
    }

    private func deliver(type: String, eventID: String, body: [UInt8], to webhook: Webhook) async -> Outcome {
        var outcome = Outcome.failed
        var client = self.client
        do {
            if let address = try await policy.check(host: webhook.host) {
                client = await webhook.pinned.client(for: webhook.host, at: address)
            }
        } catch {
            logger.warning(
                "Webhook receiver not called: \(error)",
                metadata: ["webhook.url": "\(LogRedaction.origin(webhook.url))", "event.id": "\(eventID)"])
            outcome = .blocked
        }
        for attempt in 1...settings.attempts where outcome != .blocked {
            do {
                let status = try await webhook.breaker.run { [self, client] in
                    try await post(type, eventID, body, to: webhook.url, through: client)
                }
                outcome = (200..<300).contains(status) ? .delivered : .refused
                break
            } catch is CircuitOpenError {
                outcome = .skipped
                break
            } catch {
                if Task.isCancelled {
                    outcome = .interrupted
                    break
                }
                logger.debug(
                    "Webhook call failed",
                    metadata: [
                        "webhook.url": "\(LogRedaction.origin(webhook.url))", "attempt": "\(attempt)",
                        "error": "\(error)",
                    ])
                guard attempt < settings.attempts else { break }
                do {
                    try await settings.retry.sleep(beforeRetry: attempt)
                } catch {
                    outcome = .interrupted
                    break
                }
            }
        }
        Counter(
            label: "webhook_deliveries_total",
            dimensions: [("webhook", webhook.breaker.dependency), ("outcome", outcome.rawValue)]
        )
        .increment()
        if outcome != .delivered {
            logger.warning(
                "Webhook notification not delivered",
                metadata: [
                    "webhook.url": "\(LogRedaction.origin(webhook.url))", "event.type": "\(type)",
                    "event.id": "\(eventID)", "outcome": "\(outcome.rawValue)",
                ])
        }
        return outcome
    }

    /// One POST; returns the status of a final answer, throws for one worth retrying.
    private func post(
        _ type: String, _ eventID: String, _ body: [UInt8], to url: String, through client: HTTPClient
    ) async throws -> UInt {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "shortener-notifier")
        request.headers.add(name: "X-Shortener-Event", value: type)
        request.headers.add(name: "X-Shortener-Event-ID", value: eventID)
        request.headers.add(
            name: "X-Shortener-Signature", value: Self.signature(of: body, secret: settings.secret, at: Date()))
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(
            request, timeout: TimeAmount(settings.timeout))
        _ = try? await response.body.collect(upTo: 64 * 1024)
        let status = response.status.code
        if status >= 500 || status == 408 || status == 429 { throw ReceiverFailure(status: status) }
        return status
    }
}
