import AsyncHTTPClient
import Foundation
import NIOHTTP1
import SharedJSON
import TestSupport
import Testing
@testable import Master

/// Every route of ``RoutePermissions`` × every kind of key, on the real `master serve` and
/// `outbox` with keys made by `master keys create`: each cell answers what the permissions table
/// (the README's) says, and every change a cell makes is exactly one event on the audit trail,
/// read back with `master audit tail`, while a refused request leaves none.
@Suite struct AccessMatrixEndToEndTests {
    /// A kind of key the matrix tries: a role, or a role with a limit, or one that no longer works.
    struct KeyKind: CustomStringConvertible {
        let description: String
        let role: AccessRole
        /// `master keys create` options beyond the name and the role.
        var options: [String] = []
        /// Sees only some links: those it created, or those with its tags or on its domains.
        var scoped = false
        /// Its create routes are refused (its domain is not the default one).
        var createsElsewhere = false
        /// Refused with `401` on every route: it expired, or it was revoked.
        var unauthorized = false
        /// Made to expire this soon, then waited out.
        var expiresIn: TimeInterval?
        /// Revoked with `master keys revoke` once made.
        var revoked = false
    }

    /// What one cell answered, for the audit check.
    struct Cell {
        let label: String
        let method: HTTPMethod
        let status: Int
        let requestID: String
        /// The audit events it should have caused.
        var changes: Int
    }

    @Test func everyRouteAnswersEveryKeyAsTheTableSaysAndEveryChangeIsAuditedOnce() async throws {
        let deployment = try TestDeployment(namespace: try await TestStack.makeNamespace())
        let master = try deployment.master()
        let outbox = try deployment.outbox()
        for service in [master, outbox] { try await service.waitUntilHealthy() }

        var commandKeys = 0
        func makeKey(_ name: String, _ role: AccessRole, _ options: [String] = []) async throws -> (
            id: String, secret: String
        ) {
            let made = try await deployment.masterCommand(
                ["keys", "create", "--name", name, "--role", role.rawValue] + options)
            #expect(made.status == 0, "\(made.output)")
            let words = made.output.split(whereSeparator: \.isWhitespace).map(String.init)
            commandKeys += 1
            return (
                try #require(words.first { $0.hasPrefix("key_") }), try #require(words.first { $0.hasPrefix("sk_") })
            )
        }
        let admin = try await makeKey("matrix admin", .admin).secret
        var cells: [Cell] = []
        func call(_ method: HTTPMethod, _ path: String, _ secret: String, _ body: String? = nil, label: String)
            async throws -> TestHTTP.Reply
        {
            let reply = try await TestHTTP.send(
                method, "\(master.url)\(path)", body: body, headers: ["Authorization": "Bearer \(secret)"])
            let requestID = try #require(reply.headers["x-request-id"], "\(label): every answer has a request id")
            // A change is one event; a bulk create one for each link it made. A preview changes nothing.
            let changes =
                method == .GET || path == "/api/routing/preview" || !(200..<300).contains(reply.status)
                ? 0 : (reply.json["results"] as? [[String: Any]])?.filter { $0["code"] != nil }.count ?? 1
            cells.append(
                Cell(label: label, method: method, status: reply.status, requestID: requestID, changes: changes))
            return reply
        }
        let domain = "go.matrix.test"
        #expect(try await call(.POST, "/api/domains", admin, #"{"name":"\#(domain)"}"#, label: "setup").status == 201)
        let unknown = try await deployment.masterCommand(["keys", "create", "--name", "x", "--domain", "nosuch.test"])
        #expect(unknown.status != 0 && unknown.output.contains("is not added"), "\(unknown.output)")

        let kinds: [KeyKind] = [
            KeyKind(description: "viewer", role: .viewer),
            KeyKind(description: "creator", role: .creator, scoped: true),
            KeyKind(description: "editor tagged team-a", role: .editor, options: ["--tag", "team-a"], scoped: true),
            KeyKind(
                description: "editor on \(domain)", role: .editor, options: ["--domain", domain], scoped: true,
                createsElsewhere: true),
            KeyKind(description: "editor", role: .editor),
            KeyKind(description: "expired admin", role: .admin, unauthorized: true, expiresIn: 10),
            KeyKind(description: "revoked admin", role: .admin, unauthorized: true, revoked: true),
            KeyKind(description: "admin", role: .admin),
        ]
        var secrets: [String] = []
        for kind in kinds {
            let expiry = kind.expiresIn.map { ["--expires", RFC3339.format(Date().addingTimeInterval($0))] } ?? []
            let key = try await makeKey("matrix \(kind)", kind.role, kind.options + expiry)
            if kind.revoked {
                let revoked = try await deployment.masterCommand(["keys", "revoke", key.id])
                #expect(revoked.status == 0, "\(revoked.output)")
            }
            secrets.append(key.secret)
        }
        #expect(
            try await eventually(timeout: .seconds(20)) {
                try await TestHTTP.get("\(master.url)/api/me", headers: ["Authorization": "Bearer \(secrets[5])"])
                    .status == 401
            }, "the expiring key has expired")

        func body(_ route: RoutePermissions.Route, _ index: Int) -> String? {
            switch (route.method, route.path) {
            case (.post, "/create"): #"{"url":"https://example.com/matrix/\#(index)"}"#
            case (.post, "/api/links/bulk"): #"{"links":[{"url":"https://example.com/bulk/\#(index)"}]}"#
            case (.patch, "/api/links/{code}"): #"{"title":"matrix \#(index)"}"#
            case (.post, "/api/domains"): #"{"name":"go\#(index).matrix.test"}"#
            case (.patch, "/api/domains/{name}"): #"{"root_url":"https://example.com/\#(index)"}"#
            case (.post, "/api/keys"): #"{"name":"made \#(index)","role":"viewer"}"#
            case (.patch, "/api/keys/{id}"): #"{"name":"renamed \#(index)"}"#
            case (.post, "/api/routing/preview"):
                #"{"url":"https://e.com/","rules":[{"when":{"os":["ios"]},"url":"https://i.e.com/"}],"visitor":{"os":"ios"}}"#
            default: nil
            }
        }

        var index = 0
        for (route, right) in RoutePermissions.table.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            // Each route gets its own link, domain and key to act on, so that no cell sees what
            // an earlier route did to them.
            let made = try await call(.POST, "/create", admin, #"{"url":"https://example.com/r"}"#, label: "setup")
            let code = try #require(made.json["code"] as? String)
            let name = "r\(cells.count).matrix.test"
            #expect(try await call(.POST, "/api/domains", admin, #"{"name":"\#(name)"}"#, label: "setup").status == 201)
            let victim = try await call(
                .POST, "/api/keys", admin, #"{"name":"victim","role":"viewer"}"#, label: "setup")
            let path = route.path.replacing("{code}", with: code).replacing("{name}", with: name)
                .replacing("{id}", with: try #require(victim.json["id"] as? String))
            var changed = false
            for (kind, secret) in zip(kinds, secrets) {
                index += 1
                let label = "\(kind) \(route.method) \(path)"
                let reply = try await call(
                    HTTPMethod(rawValue: route.method.rawValue), path, secret, body(route, index), label: label)
                let mayCreate = route.path == "/create" || route.path == "/api/links/bulk"
                if kind.unauthorized {
                    #expect(reply.status == 401, "\(label)")
                } else if !kind.role.rights.contains(right) {
                    #expect(reply.status == 403, "\(label)")
                    #expect(
                        (reply.json["error"] as? [String: Any])?["code"] as? String == "forbidden"
                            && reply.body.contains(right.rawValue), "\(label): \(reply.body)")
                } else if kind.scoped && (route.path.contains("{code}") || route.path == "/api/visits/orphans") {
                    #expect(reply.status == 403, "\(label): a link outside its scope")
                    #expect(!reply.body.contains("example.com/r"), "\(label): never the link's data")
                } else if kind.createsElsewhere && mayCreate {
                    #expect(reply.status == 403 && reply.body.contains("only on its domains"), "\(label)")
                } else if route.method == .delete && changed {
                    #expect(reply.status == 204 || reply.status == 404, "\(label): deleted by an earlier key")
                    cells[cells.count - 1].changes = 0
                } else {
                    #expect((200..<300).contains(reply.status), "\(label): \(reply.status) \(reply.body)")
                }
                changed = changed || (route.method != .get && (200..<300).contains(reply.status))
            }
        }

        // The trail: one event for each change, under the request that made it, none for a
        // refusal or a read; the keys made by the command (and the one it revoked) have none.
        var expected: [String: Int] = [:]
        for cell in cells where cell.changes > 0 { expected[cell.requestID] = cell.changes }
        var trail: [[String: Any]] = []
        let total = expected.values.reduce(0, +) + commandKeys + 1
        let complete = try await eventually(timeout: .seconds(30)) {
            let tail = try await deployment.masterCommand(
                ["audit", "tail", "--exit-at-end", "--log-level", "warning"], timeout: .seconds(30))
            guard tail.status == 0 else { return false }
            trail = tail.output.split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }
            return trail.count >= total
        }
        #expect(complete, "\(trail.count) of \(total) events")
        var seen: [String: Int] = [:]
        for event in trail {
            if let requestID = event["request_id"] as? String { seen[requestID, default: 0] += 1 }
        }
        #expect(seen == expected)
        for cell in cells where seen[cell.requestID] != expected[cell.requestID] {
            Issue.record("\(cell.label): \(seen[cell.requestID] ?? 0) audit events for \(cell.changes) changes")
        }
        #expect(trail.filter { $0["request_id"] == nil }.count == commandKeys + 1, "the commands' keys, one revoked")
        #expect(trail.count == total, "nothing twice")

        #expect(AccessRole.admin.rights == Set(AccessRight.allCases))
        #expect(!AccessRole.editor.rights.contains(.manageKeys) && !AccessRole.editor.rights.contains(.manageDomains))
        #expect(!AccessRole.viewer.rights.contains { [.createLinks, .editLinks, .deleteLinks].contains($0) })
        #expect(!AccessRole.creator.rights.contains { [.editLinks, .deleteLinks, .manageKeys].contains($0) })
        for service in [master, outbox] { _ = await service.process.stop() }
    }
}
