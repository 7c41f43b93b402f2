import Foundation
import HTTPTypes
import SharedConfiguration
import SharedLinks

/// The proxies whose `X-Forwarded-For` is believed: a client's address is the socket's, unless
/// the socket's address is in one of these networks; then it is the header's last hop (what
/// that proxy saw). Anyone can send the header, so without trusted proxies it is ignored.
public struct TrustedProxies: Sendable, Equatable {
    private let networks: [IPNetwork]

    /// No proxy is trusted.
    public static let none = TrustedProxies(networks: [])

    private init(networks: [IPNetwork]) { self.networks = networks }

    /// Parses a comma-separated list of CIDRs (`10.0.0.0/8, 192.168.1.10, ::1/128`); a bare
    /// address is one host.
    public init(parsing text: String) throws(SettingError) {
        var networks: [IPNetwork] = []
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            guard let network = IPNetwork(item) else {
                throw SettingError(
                    "trusted proxy '\(item)' is not an IP address or a CIDR with a prefix length that fits")
            }
            networks.append(network)
        }
        self.networks = networks
    }

    /// The client's address: `socket`, or the last `X-Forwarded-For` hop when `socket` is a
    /// trusted proxy and the hop is an IP address.
    public func clientAddress(socket: String?, forwardedFor: String?) -> String? {
        guard let socket, !networks.isEmpty, let bytes = IPNetwork.bytes(of: socket),
            networks.contains(where: { $0.contains(bytes) }), let forwardedFor,
            let last = forwardedFor.split(separator: ",").last?.trimmingCharacters(in: .whitespaces),
            IPNetwork.bytes(of: last) != nil
        else { return socket }
        return last
    }
}

extension HTTPField.Name {
    /// `X-Forwarded-For`: the addresses a request passed through, the client's first.
    public static let xForwardedFor = Self("X-Forwarded-For")!
    /// `Referrer-Policy`: what a page's links tell the next site about it.
    public static let referrerPolicy = Self("Referrer-Policy")!
}
