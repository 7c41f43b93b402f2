import Foundation
import SharedLinks
import Testing
@testable import Replica

/// The replica's routing cache stays within its links and bytes, whatever links hold.
@Suite struct RoutingCacheTests {
    static func routing(_ size: Int) throws -> LinkRouting {
        LinkRouting(rules: [
            RedirectRule(
                when: RuleConditions(device: ["mobile"]),
                url: "https://example.com/" + String(repeating: "x", count: size))
        ])
    }

    @Test func itKeepsAtMostItsBytesAndLinksAndForgetsWhatLostItsRouting() throws {
        let cache = RoutingCache(capacity: 100, maximumBytes: 10_000)
        let big = try Self.routing(3_000)
        for index in 0..<10 { cache.keep(big, revision: 1, for: "k\(index)") }
        #expect(cache.size.bytes <= 10_000 && cache.size.links <= 3, "\(cache.size)")
        cache.keep(big, revision: 2, for: "k9")
        #expect(cache.routing(of: "k9")?.revision == 2)
        #expect(cache.size.bytes <= 10_000)
        cache.keep(.none, revision: 3, for: "k9")
        #expect(cache.routing(of: "k9") == nil)

        let small = try Self.routing(1)
        let many = RoutingCache(capacity: 5, maximumBytes: 1 << 20)
        for index in 0..<12 { many.keep(small, revision: 1, for: "s\(index)") }
        #expect(many.size.links <= 5 && many.routing(of: "s11") != nil)
    }
}
