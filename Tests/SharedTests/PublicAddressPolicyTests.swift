import Testing
import SharedOutbound

@Suite struct PublicAddressPolicyTests {
    private func isPublic(_ text: String) -> Bool {
        PublicAddressPolicy.resolve(text).allSatisfy(PublicAddressPolicy.isPublic)
    }

    @Test(arguments: [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
        "198.18.0.1", "198.19.255.255", "192.0.0.8", "192.0.2.1", "198.51.100.7", "203.0.113.9", "240.0.0.1",
        "255.255.255.255", "224.0.0.1", "::1", "::", "fe80::1", "fc00::1", "ff02::1", "::ffff:127.0.0.1",
        "::ffff:10.0.0.1", "64:ff9b::a00:1", "64:ff9b::808:808", "2002:a00:1::1", "2002:808:808::1",
    ])
    func refusesEveryAddressThatIsNotPublic(address: String) {
        #expect(!PublicAddressPolicy.resolve(address).isEmpty)
        #expect(!isPublic(address), "\(address) passed for public")
    }

    @Test(arguments: ["8.8.8.8", "1.1.1.1", "198.17.255.255", "198.20.0.1", "203.0.114.1", "2606:4700::1111"])
    func letsPublicAddressesThrough(address: String) {
        #expect(isPublic(address), "\(address) refused")
    }

    @Test func aCheckedHostIsPinnedToTheAddressItWasCheckedAt() async throws {
        let policy = PublicAddressPolicy(allowsPrivateAddresses: false)
        #expect(try await policy.check(host: "8.8.8.8") == "8.8.8.8")
        await #expect(throws: PublicAddressPolicy.Refusal.self) { try await policy.check(host: "127.0.0.1") }
        #expect(try await PublicAddressPolicy(allowsPrivateAddresses: true).check(host: "127.0.0.1") == nil)
    }
}
