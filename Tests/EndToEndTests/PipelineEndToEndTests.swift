import Foundation
import SharedEvents
import SharedKafka
import TestSupport
import Testing
import SharedLinks

/// The real executables against the real Postgres, Redis and dev Kafka broker.
@Suite struct PipelineEndToEndTests {
    @Test func linksCreatedOnTheMasterRedirectOnBothReplicas() async throws {
        let namespace = try await TestStack.makeNamespace()
        let redisPorts = try TestStack.redisPorts
        let common = [
            "SHORTENER_NAMESPACE": namespace.name, "SHORTENER_PG_PORT": String(try TestStack.postgresPort),
            "SHORTENER_LOG_LEVEL": "info", "SHORTENER_CREATE_RATE_LIMIT": "0",
        ]
        let masterPort = try TestStack.freePort()
        let replicaPorts = [try TestStack.freePort(), try TestStack.freePort()]
        var services: [ServiceProcess] = []
        defer { for service in services where service.isRunning { kill(service.pid, SIGKILL) } }

        services.append(try ServiceProcess("outbox", environment: common))
        for (index, id) in ["a", "b"].enumerated() {
            services.append(
                try ServiceProcess(
                    "replica", arguments: ["--http-port", String(replicaPorts[index])],
                    environment: common.merging([
                        "SHORTENER_REPLICA_ID": id,
                        "SHORTENER_REDIS_PORT": String(redisPorts[index]),
                        "SHORTENER_CLICK_REPORT_INTERVAL": "1",
                    ]) { $1 }))
        }
        let master = try ServiceProcess(
            "master", arguments: ["serve", "--http-port", String(masterPort)],
            environment: common)
        services.append(master)
        try await master.waitUntilHealthy("http://127.0.0.1:\(masterPort)/health/ready")
        for port in replicaPorts {
            try await services[1].waitUntilHealthy("http://127.0.0.1:\(port)/health/live")
        }

        var created: [String: String] = [:]
        for index in 0..<200 {
            let url = "https://example.com/e2e/\(index)?q=\(UUID().uuidString)"
            let reply = try await TestHTTP.post("http://127.0.0.1:\(masterPort)/create", body: #"{"url":"\#(url)"}"#)
            try #require(reply.status == 201, "create answered \(reply.status): \(reply.body)")
            #expect(reply.json["url"] as? String == url)
            let code = try #require(reply.json["code"] as? String)
            #expect(reply.json["short_url"] as? String != nil)
            created[code] = url
        }

        // Every link must redirect on both replicas: 400 requests in turn, within 30 s even while
        // the other suites load the machine.
        let deadline = ContinuousClock.now + .seconds(30)
        var pending = Set(replicaPorts.flatMap { port in created.keys.map { "\(port)/\($0)" } })
        while !pending.isEmpty && ContinuousClock.now < deadline {
            for path in pending {
                let reply = try await TestHTTP.get("http://127.0.0.1:\(path)")
                if reply.status == 302 {
                    let code = String(path.split(separator: "/").last!)
                    #expect(reply.headers["location"] == created[code])
                    pending.remove(path)
                }
            }
            if !pending.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(pending.isEmpty, "\(pending.count) redirects missing; replica log:\n\(services[1].logTail())")

        let unknown = try await TestHTTP.get("http://127.0.0.1:\(replicaPorts[0])/zzzzzzzz")
        #expect(unknown.status == 404)

        // Every code was clicked once per replica above; one gets 250 more on a and 150 on b.
        let clicked = try #require(created.keys.first)
        for (port, count) in zip(replicaPorts, [250, 150]) {
            for _ in 0..<count {
                let reply = try await TestHTTP.get("http://127.0.0.1:\(port)/\(clicked)")
                try #require(reply.status == 302)
            }
        }
        func clicks(_ code: String) async throws -> Int? {
            try await TestHTTP.get("http://127.0.0.1:\(masterPort)/api/links/\(code)").json["clicks"] as? Int
        }
        let exact = try await eventually(timeout: .seconds(10)) {
            for code in created.keys where try await clicks(code) != (code == clicked ? 402 : 2) { return false }
            return true
        }
        let total = try await clicks(clicked) ?? -1
        #expect(exact, "master total for \(clicked): \(total), expected 402; master log:\n\(master.logTail())")
        let details = try await TestHTTP.get("http://127.0.0.1:\(masterPort)/api/links/\(clicked)").json
        #expect(details["url"] as? String == created[clicked])
        #expect(details["code"] as? String == clicked && details["created_at"] is String)
        #expect(try await TestHTTP.get("http://127.0.0.1:\(masterPort)/api/links/zzzzzzz").status == 404)

        for service in services.reversed() {
            let status = await service.stop()
            #expect(status == 0, "\(service.name) exited with \(status):\n\(service.logTail())")
        }
    }
}

/// `master tail`: the debugging view of a topic.
@Suite struct TailCommandTests {
    @Test func printsEveryMessageOfATopicDecodedAndFlagsUnusableOnes() async throws {
        let namespace = try await TestStack.makeNamespace()
        let producer = try KafkaProducer(
            settings: .init(bootstrapServers: try TestStack.kafkaBrokers), logger: TestStack.logger)
        let events = (0..<3).map {
            LinkEvent.created(LinkAddress(code: "tail\($0)"), url: "https://e.com/\($0)", expiresAt: nil)
        }
        try await withRunningServices([producer]) {
            for event in events {
                try await producer.send(topic: namespace.linksTopic, key: event.code, value: EventCodec.encode(event))
            }
            try await producer.send(topic: namespace.linksTopic, key: "junk", value: Array("not an event".utf8))
        }
        let tail = try ServiceProcess(
            "master", arguments: ["tail", "links", "--from-beginning", "--exit-at-end", "--log-level", "warning"],
            environment: ["SHORTENER_NAMESPACE": namespace.name])
        #expect(try await tail.waitForExit(timeout: .seconds(30)) == 0)
        let output = tail.logTail(lines: 100)
        for event in events {
            #expect(output.contains("key=\(event.code) {"), "missing \(event.code) in:\n\(output)")
        }
        #expect(output.contains(#"key=junk UNUSABLE (malformed) "not an event""#), "\(output)")
    }
}
