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
        #expect(!AccessRole.viewer.rights.contains { [.createLinks, .editLinks, .deleteLinks].contains($0) })
    }
}
