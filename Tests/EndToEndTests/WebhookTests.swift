import Crypto
import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import TestSupport
import Testing

/// The notifier's webhooks with the real executables: signed link events and click milestones,
/// and a failing receiver that trips its breaker, never holds up the other, and recovers.
@Suite struct WebhookTests {
    /// A webhook receiver on a free loopback port that records what it gets and can be told to fail.
    final class Receiver: Sendable {
        struct Call: Sendable {
            let event: String
            let eventID: String
            let signature: String
            let body: [UInt8]
            var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
        }

        let calls = NIOLockedValueBox<[Call]>([])
        let failing = NIOLockedValueBox(false)
        /// How long each call waits before it is answered (a slow receiver).
        let delay = NIOLockedValueBox(Duration.zero)
        /// Calls that arrived, answered yet or not.
        let arrivals = NIOLockedValueBox(0)
        let path: String
        private let server: TestServer
        var port: Int { server.port }

        /// - Parameter redirectTo: answer every call with `307` to this URL, after recording it.
        init(path: String = "hook", redirectTo: String? = nil) async throws {
            let router = Router()
            let (calls, failing, delay, arrivals) = (calls, failing, delay, arrivals)
            self.path = path
            router.post(RouterPath(path)) { request, _ -> Response in
                arrivals.withLockedValue { $0 += 1 }
                try await Task.sleep(for: delay.withLockedValue { $0 })
                if failing.withLockedValue({ $0 }) { return Response(status: .internalServerError) }
                let body = try await request.body.collect(upTo: 1 << 20)
                calls.withLockedValue {
                    $0.append(
                        Call(
                            event: request.headers[.init("X-Shortener-Event")!] ?? "",
                            eventID: request.headers[.init("X-Shortener-Event-ID")!] ?? "",
                            signature: request.headers[.init("X-Shortener-Signature")!] ?? "",
                            body: Array(buffer: body)))
                }
                if let redirectTo { return Response(status: .temporaryRedirect, headers: [.location: redirectTo]) }
                return Response(status: .noContent)
            }
            server = try await TestServer(router: router, name: "webhook-receiver")
        }

        var url: String { "http://127.0.0.1:\(port)/\(path)" }
        func received() -> [Call] { calls.withLockedValue { $0 } }
        func stop() { server.stop() }
    }

    /// Whether `signature` (`t=…,v1=…`) is HMAC-SHA256 of `<t>.<body>` with `secret`, computed here.
    static func verify(_ signature: String, body: [UInt8], secret: String) -> Bool {
        let parts = Dictionary(
            uniqueKeysWithValues: signature.split(separator: ",").compactMap { part -> (String, String)? in
                let pair = part.split(separator: "=", maxSplits: 1)
                return pair.count == 2 ? (String(pair[0]), String(pair[1])) : nil
            })
        guard let timestamp = parts["t"], let mac = parts["v1"] else { return false }
        let expected = HMAC<SHA256>.authenticationCode(
            for: Array("\(timestamp).".utf8) + body, using: SymmetricKey(data: Array(secret.utf8)))
        return expected.map { String(format: "%02x", $0) }.joined() == mac
    }

    @Test func signedEventsReachEveryWebhookAndAFailingOneRecoversWithoutHoldingUpTheOther() async throws {
        let good = try await Receiver()
        let flaky = try await Receiver()
        defer {
            good.stop()
            flaky.stop()
        }
        flaky.failing.withLockedValue { $0 = true }
        let secret = "webhook-secret-\(UUID().uuidString)"
        var deployment = try TestDeployment(namespace: try await TestStack.makeNamespace())
        deployment.environment = [
            "SHORTENER_WEBHOOK_URLS": "\(good.url),\(flaky.url)", "SHORTENER_WEBHOOK_SECRET": secret,
            "SHORTENER_WEBHOOK_ATTEMPTS": "2", "SHORTENER_WEBHOOK_ALLOW_PRIVATE": "true",
        ]
        let master = try deployment.master()
        let outbox = try deployment.outbox()
        let notifier = try deployment.notifier()
        let replica = try deployment.replica("a", redisPort: try TestStack.redisPorts[0])
        for service in [master, outbox, notifier, replica] { try await service.waitUntilHealthy() }

        var codes: [String] = []
        for index in 0..<8 {
            let reply = try await TestHTTP.post(
                "\(master.url)/create", body: #"{"url":"https://example.com/hook/\#(index)"}"#)
            codes.append(try #require(reply.json["code"] as? String))
        }
        // The good receiver gets every event, signed, while the other fails until its breaker opens.
        // Delivery is at-least-once (a receiver slower than the 5 s timeout on a loaded machine
        // gets an event again): every code counts once.
        func goodCodes() -> Set<String> { Set(good.received().compactMap { $0.json["code"] as? String }) }
        let allArrived = await eventually(timeout: .seconds(30)) { goodCodes().count >= 8 }
        #expect(allArrived, "good receiver got \(good.received().count); notifier log:\n\(notifier.process.logTail())")
        for call in good.received() {
            #expect(call.event == "link.created")
            #expect(Self.verify(call.signature, body: call.body, secret: secret), "bad signature \(call.signature)")
            #expect(call.json["event_id"] as? String == call.eventID)
        }
        #expect(goodCodes() == Set(codes))
        let opened = try await eventually(timeout: .seconds(10)) {
            try await PrometheusScrape.fetch("\(notifier.url)/metrics")
                .value("circuit_breaker_state", ["dependency": "webhook 127.0.0.1"]) == 2
        }
        #expect(opened, "the failing webhook's breaker did not open")
        #expect(flaky.received().isEmpty)

        // The receiver comes back: after the breaker's open time a probe gets through, and later events arrive.
        flaky.failing.withLockedValue { $0 = false }
        let recovered = try await eventually(timeout: .seconds(30)) {
            let reply = try await TestHTTP.post(
                "\(master.url)/create", body: #"{"url":"https://example.com/hook/late"}"#)
            let code = reply.json["code"] as? String
            try await Task.sleep(for: .seconds(1))
            return flaky.received().contains { $0.json["code"] as? String == code }
        }
        #expect(recovered, "the recovered webhook got nothing; notifier log:\n\(notifier.process.logTail())")

        // 100 clicks: the master's total reaches the first milestone, and the webhooks hear of it.
        for _ in 0..<100 { #expect(try await TestHTTP.get("\(replica.url)/\(codes[0])").status == 302) }
        let milestone = await eventually(timeout: .seconds(30)) {
            good.received().contains { $0.event == "link.milestone" && $0.json["code"] as? String == codes[0] }
        }
        #expect(milestone, "no milestone; notifier log:\n\(notifier.process.logTail())")
        let call = try #require(good.received().first { $0.event == "link.milestone" })
        #expect(call.json["milestone"] as? Int == 100)
        #expect(call.json["clicks"] as? Int == 100)
        #expect(Self.verify(call.signature, body: call.body, secret: secret))

        for service in [replica, notifier, outbox, master] { #expect(await service.process.stop() == 0) }
    }

    @Test func privateReceiversAreRefusedRedirectsNotFollowedAndPathsNeverLogged() async throws {
        let secretPath = "hook-\(UUID().uuidString)"
        let target = try await Receiver(path: secretPath)
        let redirecting = try await Receiver(path: "redirecting-\(secretPath)", redirectTo: target.url)
        defer {
            target.stop()
            redirecting.stop()
        }
        /// A master, a relay and a notifier of a fresh namespace (each notifier its own group).
        func stack(_ environment: [String: String]) async throws -> [TestDeployment.Running] {
            var deployment = try TestDeployment(namespace: try await TestStack.makeNamespace())
            deployment.environment = environment.merging([
                "SHORTENER_WEBHOOK_SECRET": "s", "SHORTENER_LOG_LEVEL": "trace",
            ]) { $1 }
            let services = [try deployment.master(), try deployment.outbox(), try deployment.notifier()]
            for service in services { try await service.waitUntilHealthy() }
            return services
        }

        // Without the setting, a loopback receiver is never called.
        let first = try await stack(["SHORTENER_WEBHOOK_URLS": target.url])
        let guarded = first[2]
        #expect(
            try await TestHTTP.post("\(first[0].url)/create", body: #"{"url":"https://example.com/p"}"#).status == 201)
        let blocked = try await eventually(timeout: .seconds(20)) {
            try await PrometheusScrape.fetch("\(guarded.url)/metrics")
                .value("webhook_deliveries_total", ["webhook": "webhook 127.0.0.1", "outcome": "blocked"]) ?? 0 >= 1
        }
        #expect(blocked, "notifier log:\n\(guarded.process.logTail())")
        #expect(target.received().isEmpty)
        for service in first.reversed() { _ = await service.process.stop() }

        // Allowed, a receiver that redirects gets its call, and the redirect is not followed.
        let second = try await stack([
            "SHORTENER_WEBHOOK_URLS": redirecting.url, "SHORTENER_WEBHOOK_ALLOW_PRIVATE": "true",
        ])
        let allowed = second[2]
        #expect(
            try await TestHTTP.post("\(second[0].url)/create", body: #"{"url":"https://example.com/q"}"#).status == 201)
        let called = await eventually(timeout: .seconds(30)) { redirecting.received().count >= 1 }
        #expect(called, "notifier log:\n\(allowed.process.logTail())")
        try await Task.sleep(for: .seconds(1))
        #expect(target.received().isEmpty, "the notifier followed a redirect")
        for service in second.reversed() { _ = await service.process.stop() }

        for service in [guarded, allowed] {
            let log = (try? String(contentsOfFile: service.process.logPath, encoding: .utf8)) ?? ""
            #expect(!log.isEmpty)
            #expect(!log.contains(secretPath), "a receiver's path reached the log")
        }
    }

    /// A fresh namespace whose notifier calls `receiver` (on loopback), with `settings` besides.
    private static func deployment(calling receiver: Receiver, _ settings: [String: String]) async throws
        -> TestDeployment
    {
        var deployment = try TestDeployment(namespace: try await TestStack.makeNamespace())
        deployment.environment = [
            "SHORTENER_WEBHOOK_URLS": receiver.url, "SHORTENER_WEBHOOK_SECRET": "s",
            "SHORTENER_WEBHOOK_ALLOW_PRIVATE": "true",
        ].merging(settings) { $1 }
        return deployment
    }

    @Test func aReceiverSlowerThanTheTimeoutIsCalledAgainAtTheTimeout() async throws {
        let receiver = try await Receiver()
        defer { receiver.stop() }
        receiver.delay.withLockedValue { $0 = .seconds(8) }
        let deployment = try await Self.deployment(
            calling: receiver, ["SHORTENER_WEBHOOK_TIMEOUT": "1", "SHORTENER_WEBHOOK_ATTEMPTS": "2"])
        let master = try deployment.master()
        let outbox = try deployment.outbox()
        let notifier = try deployment.notifier()
        for service in [master, outbox, notifier] { try await service.waitUntilHealthy() }
        _ = try await TestHTTP.post("\(master.url)/create", body: #"{"url":"https://example.com/slow-receiver"}"#)
        #expect(await eventually(timeout: .seconds(30)) { receiver.arrivals.withLockedValue { $0 } >= 1 })
        // Given up after 1 s, not the default 5: the second try follows within a backoff of at
        // most 200 ms (4 s leaves room for a loaded machine).
        let start = ContinuousClock.now
        let retried = await eventually(timeout: .seconds(4)) { receiver.arrivals.withLockedValue { $0 } >= 2 }
        #expect(retried, "no second try \(ContinuousClock.now - start) after the first")
        for service in [notifier, outbox, master] { _ = await service.process.stop() }
    }

    @Test func aNotifierStoppedMidDeliveryDeliversTheEventAfterItsRestart() async throws {
        let receiver = try await Receiver()
        defer { receiver.stop() }
        receiver.delay.withLockedValue { $0 = .seconds(4) }
        let deployment = try await Self.deployment(calling: receiver, ["SHORTENER_SHUTDOWN_TIMEOUT": "1"])
        let master = try deployment.master()
        let outbox = try deployment.outbox()
        let first = try deployment.notifier()
        for service in [master, outbox, first] { try await service.waitUntilHealthy() }
        let created = try await TestHTTP.post("\(master.url)/create", body: #"{"url":"https://example.com/late"}"#)
        let code = try #require(created.json["code"] as? String)
        // Stopped while its one delivery waits for the slow receiver: past the 1 s shutdown
        // deadline the delivery is cancelled, and the event must not count as done.
        #expect(await eventually(timeout: .seconds(20)) { receiver.arrivals.withLockedValue { $0 } >= 1 })
        _ = await first.process.stop()
        #expect(receiver.received().isEmpty)

        receiver.delay.withLockedValue { $0 = .zero }
        let second = try deployment.notifier()
        try await second.waitUntilHealthy()
        // A second POST (the first one's handler records its call too, once its wait is over).
        // The group may wait out the stopped member's session (45 s) before it assigns again.
        let delivered = await eventually(timeout: .seconds(90)) {
            receiver.arrivals.withLockedValue { $0 } >= 2
                && receiver.received().contains { $0.json["code"] as? String == code }
        }
        #expect(delivered, "the interrupted event never arrived; notifier log:\n\(second.process.logTail())")
        for service in [second, outbox, master] { _ = await service.process.stop() }
    }
}
