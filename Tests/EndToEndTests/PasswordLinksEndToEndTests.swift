import AsyncHTTPClient
import Foundation
import NIOCore
import TestSupport
import Testing

/// Password-protected links on the real executables: the master keeps only an argon2id hash,
/// which travels in the link event to the replica; the replica answers a form, redirects (and
/// counts) only for the right password, limits attempts per link and client address, and the
/// password itself appears in no log, event or answer.
@Suite struct PasswordLinksEndToEndTests {
    static let password = "open sesame 42"

    /// The answer to posting `password` to `/<code>` on the replica, from `client` (forwarded),
    /// as a patient client gets it: a `503` (the replica's checks at their bound) is tried again
    /// after its `Retry-After`, unless `patient` is false.
    static func post(
        _ password: String, to code: String, on replica: TestDeployment.Running, client: String = "192.0.2.1",
        patient: Bool = true
    ) async throws -> TestHTTP.Reply {
        for _ in 0..<40 {
            var request = HTTPClientRequest(url: "\(replica.url)/\(code)?ref=form")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.headers.add(name: "X-Forwarded-For", value: client)
            let encoded = password.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            request.body = .bytes(ByteBuffer(string: "password=\(encoded)"))
            // A check runs at a lower priority than the redirects (nice 5): while every suite
            // of the run starts its services at once on two cores, one waited over 10 s for CPU.
            let reply = try await TestHTTP.send(request, timeout: .seconds(40))
            guard patient, reply.status == 503, reply.headers["retry-after"] == "1" else { return reply }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw ServiceFailure("the replica kept answering 503 to a password post")
    }

    @Test func theRightPasswordRedirectsAndCountsAWrongOneNeitherAndAttemptsAreLimited() async throws {
        let stack = try await ServiceTrio(environment: [
            "SHORTENER_TRUSTED_PROXIES": "127.0.0.1/32", "SHORTENER_LOG_LEVEL": "debug",
        ])
        let created = try await TestHTTP.post(
            "\(stack.master.url)/create",
            body: #"{"url":"https://secret.example/plans","alias":"locked","password":"\#(Self.password)"}"#)
        #expect(created.status == 201, "\(created.body)")
        let read = try await TestHTTP.get("\(stack.master.url)/api/links/locked")
        #expect(read.json["password_protected"] as? Bool == true)
        for answer in [created.body, read.body] {
            #expect(!answer.contains(Self.password) && !answer.contains("argon2"), "\(answer)")
        }
        for (body, code) in [
            (#"{"url":"https://e.com/","password":"short"}"#, "invalid_password"),
            (#"{"url":"https://e.com/","password":"tab\there"}"#, "invalid_password"),
            (#"{"url":"https://e.com/","password":7}"#, "invalid_json"),
        ] {
            let refused = try await TestHTTP.post("\(stack.master.url)/create", body: body)
            #expect(refused.status == 400 && refused.body.contains(code), "\(body): \(refused.body)")
        }
        let bulk = try await TestHTTP.post(
            "\(stack.master.url)/api/links/bulk", body: #"{"links":[{"url":"https://e.com/","password":"secret1"}]}"#)
        #expect(bulk.body.contains("invalid_password"), "\(bulk.body)")

        // The form: the short link's name, never its target; no script; our policy.
        #expect(try await eventually { try await TestHTTP.get("\(stack.replica.url)/locked").status == 200 })
        let form = try await TestHTTP.get("\(stack.replica.url)/locked")
        #expect(form.headers["content-type"] == "text/html; charset=utf-8")
        #expect(form.headers["content-security-policy"]?.contains("default-src 'none'") == true)
        #expect(form.headers["cache-control"] == "no-store")
        #expect(form.body.contains("/locked") && form.body.contains(#"<form method="post">"#))
        #expect(!form.body.contains("secret.example") && !form.body.contains("<script"))

        // A wrong password: the form again, nothing counted.
        let wrong = try await Self.post("open sesame 43", to: "locked", on: stack.replica)
        #expect(wrong.status == 403 && wrong.body.contains("not right"), "\(wrong.status) \(wrong.body)")
        #expect(wrong.headers["location"] == nil)
        // The right one: a 303 to the target, with the visitor's query, counted once.
        let right = try await Self.post(Self.password, to: "locked", on: stack.replica)
        #expect(right.status == 303, "\(right.status) \(right.body)")
        #expect(right.headers["location"] == "https://secret.example/plans?ref=form")
        #expect(
            try await eventually(timeout: .seconds(20)) {
                try await TestHTTP.get("\(stack.master.url)/api/links/locked").json["clicks"] as? Int == 1
            }, "the right password's visit, and only it, is counted")

        // Ten attempts a minute per link and address: the eleventh is refused, even right.
        for _ in 0..<8 {
            #expect(try await Self.post("guess guess", to: "locked", on: stack.replica).status == 403)
        }
        let limited = try await Self.post(Self.password, to: "locked", on: stack.replica)
        #expect(limited.status == 429 && limited.headers["retry-after"] != nil, "\(limited.status)")
        #expect(limited.headers["location"] == nil)
        let elsewhere = try await Self.post(Self.password, to: "locked", on: stack.replica, client: "192.0.2.2")
        #expect(elsewhere.status == 303, "another address has attempts of its own")
        // A burst beyond the replica's checks a second: the rest answer 503 with Retry-After at once.
        let burst = try await withThrowingTaskGroup(of: TestHTTP.Reply.self) { group in
            for index in 0..<12 {
                group.addTask {
                    try await Self.post(
                        "burst burst", to: "locked", on: stack.replica, client: "198.51.100.\(index + 1)",
                        patient: false)
                }
            }
            return try await group.reduce(into: [TestHTTP.Reply]()) { $0.append($1) }
        }
        #expect(burst.allSatisfy { [403, 503].contains($0.status) }, "\(burst.map(\.status))")
        #expect(burst.contains { $0.status == 503 && $0.headers["retry-after"] == "1" }, "\(burst.map(\.status))")
        for bad in ["text/plain", "application/json"] {
            var request = HTTPClientRequest(url: "\(stack.replica.url)/locked")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: bad)
            request.body = .bytes(ByteBuffer(string: "password=x"))
            #expect(try await TestHTTP.send(request).status == 415, "\(bad)")
        }

        // The password removed: plain redirects again.
        let opened = try await TestHTTP.patch("\(stack.master.url)/api/links/locked", body: #"{"password":null}"#)
        #expect(opened.status == 200 && opened.json["password_protected"] as? Bool == false, "\(opened.body)")
        #expect(try await eventually { try await TestHTTP.get("\(stack.replica.url)/locked").status == 302 })
        let reset = try await TestHTTP.patch(
            "\(stack.master.url)/api/links/locked", body: #"{"password":"\#(Self.password)-2"}"#)
        #expect(reset.status == 200 && reset.json["password_protected"] as? Bool == true)
        #expect(try await eventually { try await TestHTTP.get("\(stack.replica.url)/locked").status == 200 })

        // The events carry the hash, never the password; no log holds either.
        let tail = try await stack.deployment.masterCommand([
            "tail", "links", "--from-beginning", "--exit-at-end", "--log-level", "warning",
        ])
        #expect(tail.status == 0)
        #expect(tail.output.contains("$argon2id$v=19$"), "the hash travels to the replicas")
        #expect(!tail.output.contains(Self.password))
        await stack.stop()
        for service in [stack.master, stack.outbox, stack.replica] {
            let log = service.process.logTail(lines: 1_000_000)
            #expect(!log.contains(Self.password), "\(service.process.name) logged the password")
            #expect(!log.contains("$argon2id$"), "\(service.process.name) logged a hash")
        }
    }

    @Test func theChecksASecondAreASetting() async throws {
        let stack = try await ServiceTrio(environment: [
            "SHORTENER_TRUSTED_PROXIES": "127.0.0.1/32", "SHORTENER_PASSWORD_CHECKS_PER_SECOND": "0.1",
        ])
        let created = try await TestHTTP.post(
            "\(stack.master.url)/create",
            body: #"{"url":"https://secret.example/","alias":"roomy","password":"\#(Self.password)"}"#)
        #expect(created.status == 201, "\(created.body)")
        #expect(try await eventually { try await TestHTTP.get("\(stack.replica.url)/roomy").status == 200 })
        // Of a burst of three, the default bound (2 a second) checks two; a tenth a second, one
        // (a bucket of one, filled again in 10 s). One check: the test stays light under load.
        let burst = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<3 {
                group.addTask {
                    try await Self.post(
                        "burst burst", to: "roomy", on: stack.replica, client: "198.51.100.\(index + 1)",
                        patient: false
                    ).status
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(burst.sorted() == [403, 503, 503], "\(burst)")
        await stack.stop()
    }
}
