import Foundation
import NIOConcurrencyHelpers
import SharedJSON
import SharedLinks
import TestSupport
import Testing
@testable import Master
@testable import Replica

/// A rule's time window on the replica as `replica` composes it, read on an injected clock: the
/// rule holds from `after` on and until `before`, at the instant, not a moment off.
@Suite struct RedirectRuleClockTests {
    @Test func aTimeWindowOpensAndClosesOnTheReplicasClock() async throws {
        let opens = try RFC3339.parse("2030-06-01T00:00:00Z")
        let closes = try RFC3339.parse("2030-07-01T00:00:00Z")
        let now = NIOLockedValueBox(opens.addingTimeInterval(-1))
        let master = try await ClickCountingTests.MasterSide()
        let replica = try ClickCountingTests.ReplicaUnderTest(
            "a", namespace: master.namespace, clock: { now.withLockedValue { $0 } })
        defer { replica.redis.close() }
        try await withRunningServices(master.services) {
            var request = LinkRequest(url: "https://example.com/always")
            request.rules = try JSONDecoder().decode(
                [RedirectRule].self,
                from: Data(
                    #"[{"when":{"after":"2030-06-01T00:00:00Z","before":"2030-07-01T00:00:00Z"},"url":"https://example.com/june"}]"#
                        .utf8))
            let code = try await master.repository.create(try request.validated()).code
            try await withRunningServices(replica.application.services) { () async throws in
                #expect(try await eventually { try await replica.serves([code]) })
                // Redirecting, not still catching up (a 503 once failed the first row in a loaded run).
                #expect(
                    try await eventually {
                        try await TestHTTP.get("http://127.0.0.1:\(replica.port)/\(code)").status == 302
                    })
                func target(at instant: Date) async throws -> String? {
                    now.withLockedValue { $0 = instant }
                    return try await TestHTTP.get("http://127.0.0.1:\(replica.port)/\(code)").headers["location"]
                }
                let table: [(Date, String)] = [
                    (opens.addingTimeInterval(-1), "https://example.com/always"),
                    (opens, "https://example.com/june"),
                    (closes.addingTimeInterval(-0.001), "https://example.com/june"),
                    (closes, "https://example.com/always"),
                    (opens.addingTimeInterval(-86_400 * 365), "https://example.com/always"),
                ]
                for (instant, expected) in table {
                    #expect(try await target(at: instant) == expected, "at \(RFC3339.format(instant))")
                }
            }
        }
    }
}
