import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing
@testable import Master

/// Idempotency keys are remembered for a retention, then forgotten, so that their tables do not
/// grow with every keyed create for good.
@Suite struct IdempotencyPruningTests {
    @Test func keysOlderThanTheRetentionAreForgottenAndYoungerOnesKept() async throws {
        let namespace = try await TestStack.makeNamespace()
        let master = try MasterApplication(configuration: .test(namespace), logger: TestStack.logger)
        let pruning = IdempotencyPruning(
            client: master.postgres, breaker: TestStack.postgresBreaker(),
            logger: TestStack.logger, retention: .seconds(86_400))
        try await withRunningServices(master.backgroundServices) {
            try await master.http.test(.router) { http in
                func create() async throws -> String {
                    let reply = try await http.executeJSON(
                        uri: "/create", method: .post, headers: [.idempotencyKey: "order-1"],
                        body: ByteBuffer(string: #"{"url":"https://example.com/once"}"#))
                    let body = try JSONSerialization.jsonObject(with: Data(buffer: reply.body)) as? [String: Any]
                    return try #require(body?["code"] as? String)
                }
                let first = try await create()
                let bulk = try await http.executeJSON(
                    uri: "/api/links/bulk", method: .post, headers: [.idempotencyKey: "batch-1"],
                    body: ByteBuffer(string: #"{"links":[{"url":"https://example.com/b"}]}"#))
                #expect(bulk.status == .ok)
                #expect(try await pruning.prune(now: Date()) == 0, "a key of today is kept")
                #expect(try await create() == first, "and a retry still gets the first link")
                #expect(try await pruning.prune(now: Date().addingTimeInterval(86_400 + 60)) == 2)
                #expect(try await create() != first, "a retry after the retention is a new request")
            }
        }
    }
}
