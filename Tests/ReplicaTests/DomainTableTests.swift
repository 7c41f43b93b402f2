import Testing
@testable import Replica

/// How a replica resolves a request's `Host`: an added domain by name (any case, any port), the
/// default domain by its host, anything else the default domain, or nothing with strict hosts.
@Suite struct DomainTableTests {
    private func table(strict: Bool) -> DomainTable {
        let table = DomainTable(defaultHost: "acme.link", strictHosts: strict)
        table.set("go.example", .init(rootURL: "https://example.com/", notFoundURL: nil, expiredURL: nil))
        return table
    }

    @Test func knownHostsResolveToTheirDomain() {
        for strict in [false, true] {
            let table = table(strict: strict)
            #expect(table.resolve(hostHeader: "go.example") == .domain("go.example"))
            #expect(table.resolve(hostHeader: "GO.example:8443") == .domain("go.example"))
            #expect(table.resolve(hostHeader: "acme.link") == .domain(nil))
            #expect(table.fallbacks(of: "go.example").rootURL == "https://example.com/")
            #expect(table.fallbacks(of: nil) == DomainTable.Fallbacks())
        }
    }

    @Test func unknownHostsAreTheDefaultDomainUnlessHostsAreStrict() {
        for header in ["other.example", "127.0.0.1:8081", "[::1]:8081", "", "bü.example"] as [String?] + [nil] {
            #expect(table(strict: false).resolve(hostHeader: header) == .domain(nil), "\(header ?? "nil")")
            #expect(table(strict: true).resolve(hostHeader: header) == .unknownHost, "\(header ?? "nil")")
        }
    }

    @Test func aRemovedDomainIsForgotten() {
        let table = table(strict: true)
        table.set("go.example", nil)
        #expect(table.resolve(hostHeader: "go.example") == .unknownHost)
    }
}
