import Foundation
import TestSupport
import Testing

/// Several short domains with the real executables: the same code on two domains is two links,
/// each replica finds a link by the request's `Host`, a domain's fallback pages answer its root,
/// its unknown codes and its gone links, and removing a domain is refused while it is in use.
@Suite struct DomainsEndToEndTests {
    @Test func twoDomainsWithTheSameCodeRedirectToTheirOwnTargetsOnEveryReplica() async throws {
        var deployment = try TestDeployment(namespace: try await TestStack.makeNamespace())
        let redisPorts = try TestStack.redisPorts
        let master = try deployment.master()
        let outbox = try deployment.outbox()
        let replicaA = try deployment.replica("a", redisPort: redisPorts[0])
        // Replica b serves only the hosts it knows.
        deployment.environment["SHORTENER_STRICT_HOSTS"] = "1"
        let replicaB = try deployment.replica("b", redisPort: redisPorts[1])
        for service in [master, outbox, replicaA, replicaB] { try await service.waitUntilHealthy() }

        let added = try await TestHTTP.post(
            "\(master.url)/api/domains",
            body: """
                {"name":"Go.Example","root_url":"https://example.com/home",
                 "not_found_url":"https://example.com/missing","expired_url":"https://example.com/expired"}
                """)
        #expect(added.status == 201, "\(added.body)")
        #expect(added.json["name"] as? String == "go.example" && added.json["default"] as? Bool == false)
        #expect(try await TestHTTP.post("\(master.url)/api/domains", body: #"{"name":"go.example"}"#).status == 409)
        #expect(
            try await TestHTTP.post("\(master.url)/api/domains", body: #"{"name":"http://x.example/"}"#).status == 400)

        let onDefault = try await TestHTTP.post(
            "\(master.url)/create", body: #"{"url":"https://example.com/default-sale","alias":"sale"}"#)
        let onGo = try await TestHTTP.post(
            "\(master.url)/create", body: #"{"url":"https://example.com/go-sale","alias":"sale","domain":"go.example"}"#
        )
        #expect(onDefault.status == 201 && onGo.status == 201, "\(onDefault.body) \(onGo.body)")
        #expect(onDefault.json["domain"] as? String == "localhost")
        #expect(onGo.json["domain"] as? String == "go.example")
        #expect(onGo.json["short_url"] as? String == "http://go.example:8081/sale")
        let taken = try await TestHTTP.post(
            "\(master.url)/create", body: #"{"url":"https://example.com/x","alias":"sale","domain":"GO.example"}"#)
        #expect(taken.status == 409)
        let unknown = try await TestHTTP.post(
            "\(master.url)/create", body: #"{"url":"https://example.com/x","domain":"nowhere.example"}"#)
        #expect(unknown.status == 400 && unknown.body.contains("unknown_domain"))

        /// Redirects to each target so far, to compare with the master's click totals.
        let redirects = Tally()
        /// Where `path` on `replica` leads for the `Host` given: the `Location`, or the status.
        func visit(_ replica: TestDeployment.Running, _ path: String, host: String? = nil) async throws -> String {
            let reply = try await TestHTTP.get("\(replica.url)\(path)", headers: host.map { ["Host": $0] } ?? [:])
            guard reply.status == 302, let location = reply.headers["location"] else { return "\(reply.status)" }
            await redirects.add(location)
            return location
        }
        for replica in [replicaA, replicaB] {
            #expect(
                try await eventually {
                    try await visit(replica, "/sale", host: "go.example") == "https://example.com/go-sale"
                })
            #expect(try await visit(replica, "/sale", host: "GO.EXAMPLE:8081") == "https://example.com/go-sale")
            #expect(try await visit(replica, "/sale", host: "localhost:8081") == "https://example.com/default-sale")
            #expect(try await visit(replica, "/", host: "go.example") == "https://example.com/home")
            #expect(try await visit(replica, "/nope", host: "go.example") == "https://example.com/missing")
            #expect(try await visit(replica, "/nope", host: "localhost") == "404")
            #expect(try await visit(replica, "/", host: "localhost") == "404")
        }
        // An unknown host: the default domain on a, nothing on strict b.
        #expect(try await visit(replicaA, "/sale", host: "other.example") == "https://example.com/default-sale")
        #expect(try await visit(replicaB, "/sale", host: "other.example") == "404")

        // Each link's clicks reach the master under its own domain.
        let expected = await (
            redirects.count("https://example.com/go-sale"), redirects.count("https://example.com/default-sale")
        )
        func clicks(_ query: String) async throws -> Int? {
            try await TestHTTP.get("\(master.url)/api/links/sale\(query)").json["clicks"] as? Int
        }
        let counted = try await eventually(timeout: .seconds(20)) {
            let onGo = try await clicks("?domain=go.example")
            let onDefault = try await clicks("")
            return onGo == expected.0 && onDefault == expected.1
        }
        #expect(counted, "expected \(expected)")

        // The API names a link on another domain with ?domain=.
        let read = try await TestHTTP.get("\(master.url)/api/links/sale?domain=go.example")
        #expect(read.json["url"] as? String == "https://example.com/go-sale")
        let listed = try await TestHTTP.get("\(master.url)/api/links?domain=go.example")
        let links = listed.json["links"] as? [[String: Any]] ?? []
        #expect(links.map { $0["url"] as? String } == ["https://example.com/go-sale"])

        // A deleted link on go.example goes to the domain's expired page; the default one stays.
        #expect(try await TestHTTP.delete("\(master.url)/api/links/sale?domain=go.example").status == 204)
        for replica in [replicaA, replicaB] {
            #expect(
                try await eventually {
                    try await visit(replica, "/sale", host: "go.example") == "https://example.com/expired"
                })
            #expect(try await visit(replica, "/sale", host: "localhost") == "https://example.com/default-sale")
        }

        // Removing a domain in use is refused; with cascade its links go with it.
        let other = try await TestHTTP.post(
            "\(master.url)/create", body: #"{"url":"https://example.com/other","domain":"go.example"}"#)
        let otherCode = try #require(other.json["code"] as? String)
        let refused = try await TestHTTP.delete("\(master.url)/api/domains/go.example")
        #expect(refused.status == 409 && refused.body.contains("domain_in_use"))
        #expect(try await TestHTTP.delete("\(master.url)/api/domains/localhost").status == 409)
        #expect(try await TestHTTP.delete("\(master.url)/api/domains/go.example?cascade=true").status == 204)
        let gone = try await TestHTTP.get("\(master.url)/api/links/\(otherCode)?domain=go.example")
        #expect(gone.json["status"] as? String == "deleted")
        let domains = try await TestHTTP.get("\(master.url)/api/domains")
        #expect(
            ((domains.json["domains"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String } == ["localhost"])
        // Replicas forget the domain: a follows the default domain, strict b refuses the host.
        #expect(
            try await eventually {
                try await visit(replicaA, "/sale", host: "go.example") == "https://example.com/default-sale"
            })
        #expect(try await eventually { try await visit(replicaB, "/sale", host: "go.example") == "404" })

        for service in [replicaB, replicaA, outbox, master] { #expect(await service.process.stop() == 0) }
    }

    @Test func aLinkMovesToAnotherDomainWithItsClicksAndItsOldAddressStaysTaken() async throws {
        var deployment = try TestDeployment(namespace: try await TestStack.makeNamespace())
        deployment.environment["SHORTENER_CLICK_REPORT_INTERVAL"] = "1"
        let master = try deployment.master()
        let outbox = try deployment.outbox()
        let replica = try deployment.replica("a", redisPort: try TestStack.redisPorts[0])
        for service in [master, outbox, replica] { try await service.waitUntilHealthy() }
        #expect(try await TestHTTP.post("\(master.url)/api/domains", body: #"{"name":"go.example"}"#).status == 201)
        let created = try await TestHTTP.post(
            "\(master.url)/create", body: #"{"url":"https://example.com/moving","alias":"mover","title":"Moving"}"#)
        #expect(created.status == 201, "\(created.body)")

        func status(_ host: String) async throws -> String {
            let reply = try await TestHTTP.get("\(replica.url)/mover", headers: ["Host": host])
            return reply.status == 302 ? reply.headers["location"] ?? "" : "\(reply.status)"
        }
        func link(_ query: String = "") async throws -> [String: Any] {
            try await TestHTTP.get("\(master.url)/api/links/mover\(query)").json
        }
        #expect(try await eventually { try await status("localhost") == "https://example.com/moving" })
        for _ in 0..<2 { #expect(try await status("localhost") == "https://example.com/moving") }
        #expect(try await eventually(timeout: .seconds(15)) { try await link()["clicks"] as? Int == 3 })

        // The move, with the revision read: the answer is the link on its new domain.
        let stale = try await TestHTTP.patch(
            "\(master.url)/api/links/mover", body: #"{"domain":"go.example"}"#, headers: ["If-Match": "\"9\""])
        #expect(stale.status == 412)
        let unknown = try await TestHTTP.patch("\(master.url)/api/links/mover", body: #"{"domain":"nowhere.example"}"#)
        #expect(unknown.status == 400 && unknown.body.contains("unknown_domain"))
        let moved = try await TestHTTP.patch(
            "\(master.url)/api/links/mover", body: #"{"domain":"GO.example","max_clicks":10}"#,
            headers: ["If-Match": "\"1\""])
        #expect(moved.status == 200, "\(moved.body)")
        #expect(moved.json["domain"] as? String == "go.example")
        #expect(moved.json["short_url"] as? String == "http://go.example:8081/mover")
        #expect(moved.json["revision"] as? Int == 2 && moved.json["clicks"] as? Int == 3)
        #expect(moved.json["title"] as? String == "Moving" && moved.json["max_clicks"] as? Int == 10)

        // Replicas follow: the old address answers as a deleted link, the new one redirects.
        #expect(try await eventually { try await status("localhost") == "410" })
        #expect(try await status("go.example") == "https://example.com/moving")
        #expect(try await link()["status"] as? String == "deleted")
        // Its clicks and analytics went with it, and new ones add to them.
        #expect(
            try await eventually(timeout: .seconds(15)) { try await link("?domain=go.example")["clicks"] as? Int == 4 })
        let stats = try await TestHTTP.get("\(master.url)/api/links/mover/stats?domain=go.example")
        #expect(stats.json["total"] as? Int == 4, "\(stats.body)")

        // The old address stays taken: no create there, no move back.
        let reuse = try await TestHTTP.post(
            "\(master.url)/create", body: #"{"url":"https://example.com/other","alias":"mover"}"#)
        #expect(reuse.status == 409)
        let back = try await TestHTTP.patch(
            "\(master.url)/api/links/mover?domain=go.example", body: #"{"domain":"localhost"}"#)
        #expect(back.status == 409 && back.body.contains("code_taken"), "\(back.body)")
        #expect(try await link("?domain=go.example")["revision"] as? Int == 2, "a refused move changes nothing")

        for service in [replica, outbox, master] { #expect(await service.process.stop() == 0) }
    }
}

/// How many redirects went to each target.
private actor Tally {
    private var counts: [String: Int] = [:]
    func add(_ target: String) { counts[target, default: 0] += 1 }
    func count(_ target: String) -> Int { counts[target] ?? 0 }
}
