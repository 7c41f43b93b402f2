import Foundation
import TestSupport
import Testing

/// The real executables as an attacker or a careless client meets them: out-of-range values,
/// broken HTTP, silent and slow sockets. Every one gets a 4xx or a closed connection, and the
/// services keep serving everyone else.
@Suite struct HardeningTests {
    /// A master, a relay and one replica with a 5 s request-head timeout.
    static func stack() async throws -> ServiceTrio {
        try await ServiceTrio(environment: ["SHORTENER_HTTP_HEADER_TIMEOUT": "5"])
    }

    @Test func outOfRangeCursorsAndClientMistakesLeaveTheMasterServing() async throws {
        let stack = try await Self.stack()
        let crash = try await TestHTTP.get("\(stack.master.url)/api/links?cursor=LTkyMjMzNzIwMzY4NTQ3NzU4MDg6YWJj")
        #expect(crash.status == 400)
        #expect((crash.json["error"] as? [String: Any])?["code"] as? String == "invalid_cursor")
        let key = ["Idempotency-Key": "same-key"]
        for index in 0..<6 {
            let reply = try await TestHTTP.post(
                "\(stack.master.url)/create", body: #"{"url":"https://example.com/\#(index)"}"#, headers: key)
            #expect(reply.status == (index == 0 ? 201 : 422))
        }
        let next = try await TestHTTP.post("\(stack.master.url)/create", body: #"{"url":"https://example.com/ok"}"#)
        #expect(next.status == 201)
        #expect(try await TestHTTP.get("\(stack.master.url)/health/ready").status == 200)
        #expect(stack.master.process.isRunning)
        await stack.stop()
    }

    @Test func redirectsCarryASCIILocations() async throws {
        let stack = try await Self.stack()
        let created = try await TestHTTP.post(
            "\(stack.master.url)/create", body: #"{"url":"https://Exämple.com/ü?q=日本"}"#)
        #expect(created.status == 201)
        let expected = "https://xn--exmple-cua.com/%C3%BC?q=%E6%97%A5%E6%9C%AC"
        #expect(created.json["url"] as? String == expected)
        let code = try #require(created.json["code"] as? String)
        #expect(try await eventually { try await TestHTTP.get("\(stack.replica.url)/\(code)").status == 302 })
        let redirect = try RawSocket(port: stack.replica.port)
        redirect.send("GET /\(code) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let answer = await redirect.receive(timeout: .seconds(5)).text
        #expect(answer.contains("\r\nlocation: \(expected)\r\n") || answer.contains("\r\nLocation: \(expected)\r\n"))
        #expect(answer.utf8.allSatisfy { $0 < 0x80 }, "\(answer)")
        await stack.stop()
    }

    @Test func theFastPathAnswersPipelinedRequestsInOrderAndClosesWhenAsked() async throws {
        let stack = try await Self.stack()
        let created = try await TestHTTP.post("\(stack.master.url)/create", body: #"{"url":"https://example.com/p"}"#)
        let code = try #require(created.json["code"] as? String)
        #expect(try await eventually { try await TestHTTP.get("\(stack.replica.url)/\(code)").status == 302 })
        func statuses(_ answer: String) -> [Int] {
            answer.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
        }

        // A redirect answered by the fast path says so when it closes the connection.
        let closing = try RawSocket(port: stack.replica.port)
        closing.send("GET /\(code) HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n")
        let (closingAnswer, closingClosed) = await closing.receive(timeout: .seconds(10))
        #expect(statuses(closingAnswer) == [302] && closingClosed, "\(closingAnswer)")
        #expect(closingAnswer.lowercased().contains("\r\nconnection: close\r\n"))

        // The request-head timeout (5 s here) counts from the fast path's last answer: a
        // connection with a redirect every second outlives it, and is closed once silent.
        let steady = try RawSocket(port: stack.replica.port)
        for second in 0..<7 {
            steady.send("GET /\(code) HTTP/1.1\r\nHost: x\r\n\r\n")
            let (steadyAnswer, steadyClosed) = await steady.receive(timeout: .seconds(1))
            #expect(statuses(steadyAnswer) == [302] && !steadyClosed, "second \(second): \(steadyAnswer)")
        }
        #expect(await steady.receive(timeout: .seconds(15)).closed, "a silent connection outlived the head timeout")

        // HTTP/1.0 without keep-alive, and a close among other tokens: the answer, then the
        // server closes (well within the 5 s head timeout), whether the router or the fast path
        // answers, on the replica and on the master.
        for (port, request) in [
            (stack.replica.port, "GET /\(code) HTTP/1.0\r\nHost: x"),
            (stack.replica.port, "GET /health/live HTTP/1.0\r\nHost: x"),
            (stack.replica.port, "GET /nosuchcode HTTP/1.0\r\nHost: x"),
            (stack.replica.port, "GET /nosuchcode HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close"),
            (stack.master.port, "GET /health/live HTTP/1.0\r\nHost: x"),
            (stack.master.port, "GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close"),
        ] {
            let ending = try RawSocket(port: port)
            ending.send(request + "\r\n\r\n")
            let (answer, closed) = await ending.receive(timeout: .seconds(2))
            #expect(statuses(answer).count == 1 && closed, "\(request): \(answer)")
        }
        // HTTP/1.0 asking for keep-alive keeps its connection for the next request.
        let keptOld = try RawSocket(port: stack.replica.port)
        keptOld.send("GET /health/live HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        let (keptAnswer, keptClosed) = await keptOld.receive(timeout: .seconds(1))
        #expect(statuses(keptAnswer) == [200] && !keptClosed, "\(keptAnswer)")
        keptOld.send("GET /health/live HTTP/1.0\r\nHost: x\r\n\r\n")
        let (lastAnswer, lastClosed) = await keptOld.receive(timeout: .seconds(2))
        #expect(statuses(lastAnswer) == [200] && lastClosed, "\(lastAnswer)")

        // A client that closes its side after its requests still gets every answer, in order.
        let halfClosed = try RawSocket(port: stack.replica.port)
        halfClosed.send("GET /\(code) HTTP/1.1\r\nHost: x\r\n\r\nGET /\(code)?b=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        halfClosed.finishSending()
        let (halfClosedAnswer, _) = await halfClosed.receive(timeout: .seconds(10))
        #expect(statuses(halfClosedAnswer) == [302, 302], "\(halfClosedAnswer)")

        // A redirect (the fast path), then an unknown code, a health check and redirects: from
        // the first request the fast path does not answer on, the router answers, in order.
        let mixed = try RawSocket(port: stack.replica.port)
        mixed.send(
            "GET /\(code) HTTP/1.1\r\nHost: x\r\n\r\nGET /nosuchcode HTTP/1.1\r\nHost: x\r\n\r\n"
                + "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\nGET /\(code)?a=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                + "GET /\(code) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let (answer, closed) = await mixed.receive(timeout: .seconds(10))
        #expect(statuses(answer) == [302, 404, 200, 302, 302], "\(answer)")
        #expect(answer.lowercased().components(separatedBy: "\r\ndate: ").count == 6, "every answer is dated")
        #expect(closed, "Connection: close ends the connection after its answer")

        // 300 pipelined redirects, sent before any answer is read: every one answered, in order
        // (one at a time on the connection; 60 s leaves room for a loaded machine, where each
        // took up to 30 ms).
        let flood = try RawSocket(port: stack.replica.port)
        let request = "GET /\(code) HTTP/1.1\r\nHost: x\r\n\r\n"
        flood.send(String(repeating: request, count: 299) + "GET /-x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let (floodAnswer, floodClosed) = await flood.receive(timeout: .seconds(60))
        let floodStatuses = statuses(floodAnswer)
        #expect(floodStatuses.count == 300 && floodClosed, "\(floodStatuses.count) answers")
        #expect(floodStatuses.dropLast().allSatisfy { $0 == 302 } && floodStatuses.last == 404)
        #expect(try await TestHTTP.get("\(stack.replica.url)/health/live").status == 200)
        await stack.stop()
    }

    @Test func theConnectionCapHoldsOnTheFastPathAndAGracefulStopClosesEveryConnection() async throws {
        let deployment = try TestDeployment(namespace: try await TestStack.makeNamespace())
        let master = try deployment.master()
        let outbox = try deployment.outbox()
        let replica = try deployment.replica(
            "a", redisPort: try TestStack.redisPorts[0], environment: ["SHORTENER_HTTP_MAX_CONNECTIONS": "3"])
        for service in [master, outbox] { try await service.waitUntilHealthy() }
        let created = try await TestHTTP.post("\(master.url)/create", body: #"{"url":"https://example.com/cap"}"#)
        let code = try #require(created.json["code"] as? String)
        // Only raw sockets meet the replica, each closed after its answer: no pooled connection
        // holds one of its three places.
        func answer(_ request: String) async throws -> String {
            let socket = try RawSocket(port: replica.port)
            defer { socket.close() }
            _ = socket.send("\(request) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return await socket.receive(timeout: .seconds(2)).text
        }
        #expect(try await eventually { try await answer("GET /\(code)").hasPrefix("HTTP/1.1 302") })
        try await Task.sleep(for: .milliseconds(300))  // the server closes its side of the last one

        // Three connections kept open, each with a redirect answered: the fourth waits.
        let held = try (0..<3).map { _ in try RawSocket(port: replica.port) }
        for socket in held {
            _ = socket.send("GET /\(code) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await socket.receive(timeout: .seconds(5), untilHeadEnds: true).text.hasPrefix("HTTP/1.1 302"))
        }
        let waiting = try RawSocket(port: replica.port)
        _ = waiting.send("GET /\(code) HTTP/1.1\r\nHost: x\r\n\r\n")
        let early = await waiting.receive(timeout: .seconds(1))
        #expect(early.text.isEmpty && !early.closed, "a fourth connection was served: \(early.text)")
        held[0].close()
        #expect(
            await waiting.receive(timeout: .seconds(5), untilHeadEnds: true).text.hasPrefix("HTTP/1.1 302"),
            "the place freed was not taken")

        // A graceful stop closes the idle connections, one on the fast path and one the router
        // took over, and the replica exits cleanly.
        _ = held[1].send("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(await held[1].receive(timeout: .seconds(5), untilHeadEnds: true).text.hasPrefix("HTTP/1.1 200"))
        #expect(await replica.process.stop() == 0, "\(replica.process.logTail())")
        for socket in [held[1], held[2], waiting] { #expect(await socket.receive(timeout: .seconds(2)).closed) }
        for service in [outbox, master] { _ = await service.process.stop() }
    }

    @Test func aMistypedSettingStopsTheStartAndNamesItself() async throws {
        var deployment = try TestDeployment(namespace: try await TestStack.makeNamespace())
        deployment.environment = [
            "SHORTENER_SHUTDOWN_TIMEOUT": "ten", "SHORTENER_FETCH_TITLES": "maybe", "SHORTENER_VISIT_STREAMS": "1e3",
        ]
        let (status, output) = try await deployment.masterCommand(["serve"], timeout: .seconds(30))
        #expect(status != 0)
        for problem in [
            "SHORTENER_SHUTDOWN_TIMEOUT='ten' is not a number", "SHORTENER_FETCH_TITLES='maybe' is not true or false",
            "SHORTENER_VISIT_STREAMS='1e3' is not an integer",
        ] {
            #expect(output.contains(problem), "\(output)")
        }
    }

    @Test func brokenHTTPGetsA4xxOrAClosedConnection() async throws {
        let stack = try await Self.stack()
        let big = String(repeating: "x", count: 200_000)
        let requests: [[UInt8]] = [
            Array("GARBAGE\r\n\r\n".utf8), [0, 0, 0, 0, 0xFF, 0xFE, 0x0D, 0x0A, 0x0D, 0x0A],
            Array("GET /\(big) HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
            Array("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(big)\r\n\r\n".utf8),
            Array("POST /create HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".utf8),
            Array("POST /create HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n".utf8),
            Array("POST /create HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcde".utf8),
            Array(
                "POST /create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFF\r\nx".utf8
            ),
            Array("GET /a\r\nb HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
            Array("GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n".utf8),
            Array("GET /".utf8) + [0xC3, 0x28, 0xFF] + Array(" HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
            Array("GET / HTTP/9.9\r\nHost: x\r\n\r\n".utf8),
        ]
        for service in [stack.master, stack.replica] {
            for request in requests {
                let socket = try RawSocket(port: service.port)
                socket.send(request)
                let (answer, closed) = await socket.receive(timeout: .seconds(6))
                let status = answer.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) }
                #expect(
                    status.map { (400..<500).contains($0) } ?? (closed && answer.isEmpty),
                    "\(String(decoding: request.prefix(60), as: UTF8.self)) → \(answer.prefix(80))")
            }
            #expect(try await TestHTTP.get("\(service.url)/health/live").status == 200)
            #expect(service.process.isRunning)
        }
        await stack.stop()
    }

    @Test func silentAndSlowSocketsCannotStarveRedirects() async throws {
        let stack = try await Self.stack()
        let created = try await TestHTTP.post("\(stack.master.url)/create", body: #"{"url":"https://example.com/"}"#)
        let code = try #require(created.json["code"] as? String)
        #expect(try await eventually { try await TestHTTP.get("\(stack.replica.url)/\(code)").status == 302 })

        // 2000 idle connections: 20 of them here, to see the server close them later.
        let crowd = try await IdleConnections(count: 1980, port: stack.replica.port)
        var idle: [RawSocket] = []
        for _ in 0..<20 { idle.append(try RawSocket(port: stack.replica.port)) }
        var fastest = Duration.seconds(60)
        for _ in 0..<3 {
            let start = ContinuousClock.now
            let socket = try RawSocket(port: stack.replica.port)
            socket.send("GET /\(code) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(await socket.receive(timeout: .seconds(5)).text.hasPrefix("HTTP/1.1 302"))
            fastest = min(fastest, ContinuousClock.now - start)
        }
        // Starved, it would wait seconds; 500 ms leaves room for the other suites on two cores.
        #expect(fastest < .milliseconds(500), "a redirect took \(fastest) beside 2000 idle connections")

        // A client that trickles its headers is cut off at the header timeout (5 s) like a silent one.
        let slow = try RawSocket(port: stack.replica.port)
        var cutOff = false
        for byte in "GET /\(code) HTTP/1.1\r\nHost: x\r\nX-Slow: abcdefghijklmnopqrstuvwxyz".utf8 {
            guard slow.send([byte]) else {
                cutOff = true
                break
            }
            if await slow.receive(timeout: .milliseconds(400)).closed {
                cutOff = true
                break
            }
        }
        #expect(cutOff, "a trickled request head must be cut off")
        // By now (over 5 s later) the silent sockets were closed by the server too.
        for socket in idle { #expect(await socket.receive(timeout: .seconds(2)).closed) }
        idle.forEach { $0.close() }
        crowd.close()
        #expect(try await TestHTTP.get("\(stack.replica.url)/\(code)").status == 302)
        await stack.stop()
    }

    @Test func aMasterBoundBeyondLoopbackRefusesToServeWithoutAnyKey() async throws {
        var deployment = try TestDeployment(namespace: try await TestStack.makeNamespace())
        try await deployment.migrate()
        // Refused before it binds: the test opens nothing beyond loopback.
        deployment.environment["SHORTENER_HTTP_HOST"] = "0.0.0.0"
        let open = try deployment.master()
        #expect(try await open.process.waitForExit(timeout: .seconds(30)) != 0)
        #expect(open.process.logTail().contains("no API key exists, and the master would listen on 0.0.0.0"))

        // The setting that allows it is read (on loopback here): it once stopped the master at
        // its argument parsing, whatever the host.
        deployment.environment["SHORTENER_HTTP_HOST"] = "127.0.0.1"
        deployment.environment["SHORTENER_ALLOW_OPEN_API"] = "true"
        let allowed = try deployment.master()
        try await allowed.waitUntilHealthy()
        #expect(await allowed.process.stop() == 0)
    }

    @Test func aSecondReplicaOnTheSameRedisRefusesToStartAndACrashedOnesClaimExpires() async throws {
        let deployment = try TestDeployment(namespace: try await TestStack.makeNamespace())
        try await deployment.migrate()
        let redisPort = try TestStack.redisPorts[0]
        let first = try deployment.replica("a", redisPort: redisPort)
        try await first.waitUntilHealthy()

        // Same Redis, same namespace: its clicks would count twice. It refuses after a wait.
        let second = try deployment.replica("b", redisPort: redisPort)
        #expect(try await second.process.waitForExit(timeout: .seconds(30)) != 0)
        #expect(second.process.logTail().contains("replica a (run"), "\(second.process.logTail())")
        #expect(second.process.logTail().contains("already serves from this Redis"))
        #expect(try await TestHTTP.get("\(first.url)/health/ready").status == 200)

        // A replica killed outright leaves its claim to expire: the next one starts once it has.
        first.process.crash()
        let successor = try deployment.replica("b", redisPort: redisPort)
        try await successor.waitUntilHealthy()
        // A graceful stop gives the claim up at once.
        #expect(await successor.process.stop() == 0)
        let third = try deployment.replica("c", redisPort: redisPort)
        try await third.waitUntilHealthy(timeout: .seconds(10))
        _ = await third.process.stop()
    }
}
