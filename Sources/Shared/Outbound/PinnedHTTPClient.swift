import AsyncHTTPClient
import NIOConcurrencyHelpers

/// One receiver's HTTP client, connecting to the address ``PublicAddressPolicy`` checked instead
/// of resolving the host again (TLS still verifies the host name): a DNS server cannot answer
/// the check with a public address and the connection with a private one. A new checked address
/// (the verdict's lifetime ended and the name moved) replaces the client; the caller runs one
/// call at a time on it (a webhook's deliveries run one after another), so nothing is in flight
/// on the old one.
public final class PinnedHTTPClient: Sendable {
    private let pinned = NIOLockedValueBox<(address: String, client: HTTPClient)?>(nil)

    public init() {}

    /// A client that connects to `address` for `host`.
    public func client(for host: String, at address: String) async -> HTTPClient {
        if let current = pinned.withLockedValue({ $0 }), current.address == address { return current.client }
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton, configuration: Self.configuration(dnsOverride: [host: address]))
        let replaced = pinned.withLockedValue { pinned in
            defer { pinned = (address, client) }
            return pinned?.client
        }
        try? await replaced?.shutdown()
        return client
    }

    /// Shuts the current client down (at the service's stop).
    public func shutdown() async {
        try? await pinned.withLockedValue({ $0 })?.client.shutdown()
    }

    /// Every pinned client's settings: no redirects (a receiver must not be able to send the
    /// call, and a webhook's signature, elsewhere unchecked), and the given host-to-address
    /// overrides.
    public static func configuration(dnsOverride: [String: String] = [:]) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.dnsOverride = dnsOverride
        return configuration
    }
}
