import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SharedResilience
import TestSupport
import Testing
@testable import Master

/// Every route of ``RoutePermissions`` × every role, on the master as `master serve` composes
/// it against the real Postgres, with keys made the way `master keys create` makes them: a
/// role without the route's right gets `403 forbidden` naming it, the others get past the
/// check, and an expired key gets `401`.
@Suite struct AccessMatrixTests {
    @Test func everyRouteRefusesARoleWithoutItsRightAndLetsTheOthersThrough() async throws {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        try await withRunningServices(master.backgroundServices) {
            let store = APIKeyStore(
                client: master.postgres, breaker: .postgres(logger: TestStack.logger), logger: TestStack.logger)
            var made: [AccessRole: String] = [:]
            for role in AccessRole.allCases {
                made[role] = try await store.create(name: "matrix \(role)", role: role).secret
            }
            let secrets = made
            let expiring = try await store.create(
                name: "matrix expiring", role: .admin, expiresAt: Date().addingTimeInterval(2))
            // The key the admin's `DELETE /api/keys/{id}` of the matrix revokes.
            let victim = try await store.create(name: "matrix victim", role: .viewer)
            try await master.http.test(.router) { http in
                func call(_ route: RoutePermissions.Route, _ uri: String, _ secret: String) async throws
                    -> TestResponse
                {
                    try await http.execute(
                        uri: uri, method: route.method,
                        headers: [.authorization: "Bearer \(secret)", .contentType: "application/json"],
                        body: ByteBuffer(string: route.path == "/create" ? #"{"url":"https://example.com/m"}"# : "{}"))
                }
                let admin = try #require(secrets[.admin])
                let created = try await call(RoutePermissions.Route(.post, "/create"), "/create", admin)
                #expect(created.status == .created)
                let code = try #require(
                    (try JSONSerialization.jsonObject(with: Data(buffer: created.body)) as? [String: Any])?["code"]
                        as? String)
                #expect(
                    try await call(RoutePermissions.Route(.get, "/api/links"), "/api/links", expiring.secret).status
                        == .ok)

                for (route, right) in RoutePermissions.table.sorted(by: { $0.key.path < $1.key.path }) {
                    let uri = route.path.replacing("{code}", with: code).replacing("{name}", with: "go.matrix.test")
                        .replacing("{id}", with: victim.id)
                    for role in AccessRole.allCases {
                        let response = try await call(route, uri, try #require(secrets[role]))
                        if role.rights.contains(right) {
                            #expect(
                                ![.forbidden, .unauthorized].contains(response.status), "\(role) \(route.method) \(uri)"
                            )
                        } else {
                            #expect(response.status == .forbidden, "\(role) \(route.method) \(uri)")
                            let body = String(buffer: response.body)
                            #expect(body.contains(#""code":"forbidden""#) && body.contains(right.rawValue), "\(body)")
                        }
                    }
                }
                try await Task.sleep(for: .seconds(2))
                let expired = try await call(RoutePermissions.Route(.get, "/api/links"), "/api/links", expiring.secret)
                #expect(expired.status == .unauthorized)
                #expect(String(buffer: expired.body).contains("expired"))
            }
        }
        #expect(AccessRole.admin.rights == Set(AccessRight.allCases))
        #expect(!AccessRole.editor.rights.contains(.manageKeys) && !AccessRole.editor.rights.contains(.manageDomains))
        #expect(!AccessRole.viewer.rights.contains { [.createLinks, .editLinks, .deleteLinks].contains($0) })
    }

    @Test func anAdminManagesKeysOverTheAPIAndAChangeIsSeenAtOnce() async throws {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        try await withRunningServices(master.backgroundServices) {
            let store = APIKeyStore(
                client: master.postgres, breaker: .postgres(logger: TestStack.logger), logger: TestStack.logger)
            let admin = try await store.create(name: "admin", role: .admin).secret
            try await master.http.test(.router) { http in
                func call(_ method: HTTPRequest.Method, _ uri: String, _ secret: String, _ body: String = "")
                    async throws -> (status: HTTPResponse.Status, json: [String: Any])
                {
                    let response = try await http.execute(
                        uri: uri, method: method,
                        headers: [.authorization: "Bearer \(secret)", .contentType: "application/json"],
                        body: ByteBuffer(string: body))
                    let json = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any]
                    return (response.status, json ?? [:])
                }
                let made = try await call(.post, "/api/keys", admin, #"{"name":" reader ","role":"viewer"}"#)
                #expect(made.status == .created)
                #expect(made.json["name"] as? String == "reader" && made.json["role"] as? String == "viewer")
                let id = try #require(made.json["id"] as? String)
                let secret = try #require(made.json["secret"] as? String)

                #expect(try await call(.get, "/api/links", secret).status == .ok)
                let edit = try await call(.post, "/create", secret, #"{"url":"https://example.com/v"}"#)
                #expect(edit.status == .forbidden)
                #expect(try await call(.get, "/api/keys", secret).status == .forbidden, "a viewer never sees keys")

                let listed = try await call(.get, "/api/keys", admin)
                let keys = try #require(listed.json["keys"] as? [[String: Any]])
                #expect(keys.count == 2 && keys.allSatisfy { $0["secret"] == nil }, "no secret is ever listed")

                let promoted = try await call(.patch, "/api/keys/\(id)", admin, #"{"role":"editor"}"#)
                #expect(promoted.status == .ok && promoted.json["role"] as? String == "editor")
                #expect(
                    try await call(.post, "/create", secret, #"{"url":"https://example.com/e"}"#).status == .created,
                    "the new role holds at once")

                for (body, code) in [
                    (#"{"name":"x","role":"owner"}"#, "invalid_role"), (#"{"name":"x","secret":"s"}"#, "unknown_field"),
                    (#"{"name":""}"#, "invalid_name"),
                    (#"{"name":"x","expires_at":"2001-01-01T00:00:00Z"}"#, "invalid_expires_at"),
                    (#"{"role":"viewer"}"#, "missing_name"),
                ] {
                    let refused = try await call(.post, "/api/keys", admin, body)
                    #expect(refused.status == .badRequest, "\(body)")
                    #expect((refused.json["error"] as? [String: Any])?["code"] as? String == code, "\(body)")
                }
                #expect(try await call(.patch, "/api/keys/\(id)", admin, "{}").status == .badRequest)
                #expect(try await call(.delete, "/api/keys/key_nope", admin).status == .notFound)

                #expect(try await call(.delete, "/api/keys/\(id)", admin).status == .noContent)
                #expect(try await call(.get, "/api/links", secret).status == .unauthorized, "revoked at once")
                #expect(try await call(.delete, "/api/keys/\(id)", admin).status == .notFound)
            }
        }
    }

    @Test func aKeyRevokedOnOneMasterStopsWorkingOnAnotherWithinASecond() async throws {
        let namespace = try await TestStack.makeNamespace()
        let first = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        let second = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        try await withRunningServices(first.backgroundServices + second.backgroundServices) {
            let store = APIKeyStore(
                client: first.postgres, breaker: .postgres(logger: TestStack.logger), logger: TestStack.logger)
            let admin = try await store.create(name: "admin", role: .admin).secret
            let doomed = try await store.create(name: "doomed", role: .viewer)
            @Sendable func status(
                _ http: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, _ secret: String
            )
                async throws -> HTTPResponse.Status
            {
                try await http.execute(uri: uri, method: method, headers: [.authorization: "Bearer \(secret)"]).status
            }
            try await second.http.test(.router) { other in
                // The second master has the key in its cache.
                #expect(try await eventually { try await status(other, .get, "/api/links", doomed.secret) == .ok })
                let revocation = try await first.http.test(.router) { http in
                    try await status(http, .delete, "/api/keys/\(doomed.id)", admin)
                }
                #expect(revocation == .noContent)
                let revoked = ContinuousClock.now
                #expect(
                    try await eventually(timeout: .seconds(1)) {
                        try await status(other, .get, "/api/links", doomed.secret) == .unauthorized
                    }, "the second master refuses the key within a second, not at its 5 s refresh")
                print("AccessMatrixTests: revocation seen by the second master after \(ContinuousClock.now - revoked)")
            }
        }
    }

    @Test func aThousandRequestsWriteAKeysLastUseOnce() async throws {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        try await withRunningServices(master.backgroundServices) {
            let store = APIKeyStore(
                client: master.postgres, breaker: .postgres(logger: TestStack.logger), logger: TestStack.logger)
            let key = try await store.create(name: "busy", role: .viewer)
            let idle = try await store.create(name: "idle", role: .viewer)
            try await master.http.test(.router) { http in
                for _ in 0..<1_000 {
                    let response = try await http.execute(
                        uri: "/api/domains", method: .get, headers: [.authorization: "Bearer \(key.secret)"])
                    #expect(response.status == .ok)
                }
            }
            #expect(try await master.keyUsage.flush() == 1, "one write for the thousand uses")
            #expect(try await master.keyUsage.flush() == 0, "nothing new, nothing written")
            let keys = try await store.list()
            let busy = try #require(keys.first { $0.id == key.id })
            #expect(busy.lastUsedAt.map { abs($0.timeIntervalSinceNow) < 60 } == true)
            #expect(keys.first { $0.id == idle.id }?.lastUsedAt == nil)
        }
    }
}
