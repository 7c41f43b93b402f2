import Foundation
import TestSupport
import Testing

/// How a link redirects, with the real executables: its status and the cache headers that go
/// with it (read off the wire), the visitor's query merged into the target, and what search
/// engines are told (`X-Robots-Tag`, `robots.txt`).
@Suite struct RedirectOptionsEndToEndTests {
    /// The status line, headers and body of `method path` on `port`, as the server wrote them
    /// (the server closes the connection after it).
    private func head(_ path: String, port: Int, host: String = "localhost", method: String = "GET") async throws -> (
        status: String, headers: [String: String], body: String
    ) {
        let socket = try RawSocket(port: port)
        defer { socket.close() }
        #expect(socket.send("\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n"))
        let text = await socket.receive(timeout: .seconds(5)).text
        let (top, body) =
            text.range(of: "\r\n\r\n").map { (String(text[..<$0.lowerBound]), String(text[$0.upperBound...])) }
            ?? (text, "")
        let lines = top.components(separatedBy: "\r\n")
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        return (lines.first ?? "", headers, body)
    }

    @Test func statusesCacheHeadersQueryForwardingAndRobots() async throws {
        var deployment = try TestDeployment(namespace: try await TestStack.makeNamespace())
        deployment.environment["SHORTENER_REDIRECT_CACHE_SECONDS"] = "120"
        let master = try deployment.master()
        let outbox = try deployment.outbox()
        let replica = try deployment.replica("a", redisPort: try TestStack.redisPorts[0])
        for service in [master, outbox, replica] { try await service.waitUntilHealthy() }

        let links = [
            ("p301", #""redirect_type":301"#), ("p302", #""redirect_type":302"#), ("p307", #""redirect_type":307"#),
            ("p308", #""redirect_type":308,"crawlable":true"#), ("plain", #""forward_query":false"#),
        ]
        for (alias, options) in links {
            let created = try await TestHTTP.post(
                "\(master.url)/create",
                body: #"{"url":"https://shop.example/sale?ref=1#top","alias":"\#(alias)",\#(options)}"#)
            #expect(created.status == 201, "\(created.body)")
        }
        for bad in [#""redirect_type":303"#, #""redirect_type":"301""#, #""forward_query":"yes""#] {
            let refused = try await TestHTTP.post("\(master.url)/create", body: #"{"url":"https://e.com/",\#(bad)}"#)
            #expect(refused.status == 400, "\(bad): \(refused.body)")
        }
        let read = try await TestHTTP.get("\(master.url)/api/links/p308")
        #expect(read.json["redirect_type"] as? Int == 308 && read.json["crawlable"] as? Bool == true)
        #expect(read.json["forward_query"] as? Bool == true)
        #expect(try await eventually { try await head("/plain", port: replica.port).status.contains("302") })

        for (alias, status) in [("p301", "301"), ("p302", "302"), ("p307", "307"), ("p308", "308")] {
            let answer = try await head("/\(alias)?utm_source=mail&ref=2", port: replica.port)
            #expect(answer.status.hasPrefix("HTTP/1.1 \(status)"), "\(alias): \(answer.status)")
            #expect(answer.headers["location"] == "https://shop.example/sale?utm_source=mail&ref=2#top")
            let permanent = status == "301" || status == "308"
            #expect(answer.headers["cache-control"] == (permanent ? "public, max-age=120" : "no-store"), "\(alias)")
            #expect(answer.headers["x-robots-tag"] == (alias == "p308" ? nil : "noindex"), "\(alias)")
        }
        let unforwarded = try await head("/plain?utm_source=mail", port: replica.port)
        #expect(unforwarded.headers["location"] == "https://shop.example/sale?ref=1#top")
        let hostile = try await head("/p302?a=%0d%0aSet-Cookie:x&b=%", port: replica.port)
        #expect(hostile.headers["location"] == "https://shop.example/sale?ref=1&a=%0d%0aSet-Cookie:x&b=%25#top")
        #expect(hostile.headers["set-cookie"] == nil)

        // Campaign parameters are added unless the visitor sets them.
        let campaign = try await TestHTTP.post(
            "\(master.url)/create",
            body:
                #"{"url":"https://shop.example/a?ref=1","alias":"camp","utm":{"source":"news","campaign":"spring 25"}}"#
        )
        #expect(campaign.status == 201, "\(campaign.body)")
        #expect(
            try await eventually {
                try await head("/camp", port: replica.port).headers["location"]
                    == "https://shop.example/a?ref=1&utm_source=news&utm_campaign=spring%2025"
            })
        #expect(
            try await head("/camp?utm_source=x&q=1", port: replica.port).headers["location"]
                == "https://shop.example/a?ref=1&utm_campaign=spring%2025&utm_source=x&q=1")

        let robots = try await TestHTTP.get("\(replica.url)/robots.txt", headers: ["Host": "localhost"])
        #expect(robots.status == 200)
        #expect(robots.body == "User-agent: *\nAllow: /p308$\nDisallow: /\n")

        // An edit takes the link off the index and back to a plain 302.
        let edited = try await TestHTTP.patch(
            "\(master.url)/api/links/p308", body: #"{"redirect_type":302,"crawlable":false}"#)
        #expect(edited.status == 200, "\(edited.body)")
        #expect(try await eventually { try await head("/p308", port: replica.port).status.hasPrefix("HTTP/1.1 302") })
        #expect(try await head("/p308", port: replica.port).headers["x-robots-tag"] == "noindex")
        // Each domain's file is read again at most every two seconds.
        #expect(
            try await eventually {
                try await TestHTTP.get("\(replica.url)/robots.txt").body == "User-agent: *\nDisallow: /\n"
            })

        for service in [replica, outbox, master] { #expect(await service.process.stop() == 0) }
    }

    @Test func aHeadGetsTheRedirectWithoutABodyAndCountsNothing() async throws {
        let deployment = try TestDeployment(namespace: try await TestStack.makeNamespace())
        let master = try deployment.master()
        let outbox = try deployment.outbox()
        let replica = try deployment.replica("a", redisPort: try TestStack.redisPorts[0])
        for service in [master, outbox, replica] { try await service.waitUntilHealthy() }
        for alias in ["looked", "removed"] {
            let created = try await TestHTTP.post(
                "\(master.url)/create", body: #"{"url":"https://shop.example/\#(alias)","alias":"\#(alias)"}"#)
            #expect(created.status == 201, "\(created.body)")
        }
        #expect(try await TestHTTP.delete("\(master.url)/api/links/removed").status == 204)
        #expect(
            try await eventually {
                try await head("/removed", port: replica.port, method: "HEAD").status.contains("410")
            })
        #expect(
            try await eventually {
                try await head("/looked", port: replica.port, method: "HEAD").status.contains("302")
            })

        // Looks answer as a GET would, without a body; only the GETs count.
        for _ in 0..<3 {
            let look = try await head("/looked?ref=2", port: replica.port, method: "HEAD")
            #expect(look.status.hasPrefix("HTTP/1.1 302") && look.body.isEmpty, "\(look)")
            #expect(look.headers["location"] == "https://shop.example/looked?ref=2")
            #expect(look.headers["cache-control"] == "no-store")
        }
        for (path, status) in [("/nosuchcode", "404"), ("/removed", "410"), ("/not%20a%20code", "404")] {
            let look = try await head(path, port: replica.port, method: "HEAD")
            #expect(look.status.hasPrefix("HTTP/1.1 \(status)") && look.body.isEmpty, "\(path): \(look)")
        }
        for _ in 0..<2 { #expect(try await head("/looked", port: replica.port).status.hasPrefix("HTTP/1.1 302")) }
        // Were the looks counted, the totals would pass 3 before ever showing 2.
        #expect(
            try await eventually(timeout: .seconds(20)) {
                try await TestHTTP.get("\(master.url)/api/links/looked").json["clicks"] as? Int == 2
            })
        let metrics = try await PrometheusScrape.fetch("\(replica.url)/metrics")
        #expect(metrics.value("clicks_counted_total", [:]) == 2)
        for service in [replica, outbox, master] { #expect(await service.process.stop() == 0) }
    }
}
