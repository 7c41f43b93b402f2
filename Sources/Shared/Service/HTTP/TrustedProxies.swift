import Foundation
import HTTPTypes
import SharedConfiguration

/// The proxies whose `X-Forwarded-For` is believed: a client's address is the socket's, unless
/// the socket's address is in one of these networks; then it is the header's last hop (what
/// that proxy saw). Anyone can send the header, so without trusted proxies it is ignored.
public struct TrustedProxies: Sendable, Equatable {
    /// One network: an address and how many leading bits of it must match.
    struct Network: Sendable, Equatable {
        let bytes: [UInt8]
        let prefixLength: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var remaining = prefixLength
            for (mine, theirs) in zip(bytes, address) where remaining > 0 {
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                guard mine & mask == theirs & mask else { return false }
                remaining -= bits
            }
            return true
        }
    }

    private let networks: [Network]

    /// No proxy is trusted.
    public static let none = TrustedProxies(networks: [])

    private init(networks: [Network]) { self.networks = networks }

    /// Parses a comma-separated list of CIDRs (`10.0.0.0/8, 192.168.1.10, ::1/128`); a bare
    /// address is one host.
    public init(parsing text: String) throws(SettingError) {
        var networks: [Network] = []
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            let parts = item.split(separator: "/", maxSplits: 1).map(String.init)
            guard let bytes = Self.bytes(of: parts[0]) else {
                throw SettingError("trusted proxy '\(item)' is not an IP address or CIDR")
            }
            let length = parts.count == 2 ? Int(parts[1]) : bytes.count * 8
            guard let length, (0...(bytes.count * 8)).contains(length) else {
                throw SettingError("trusted proxy '\(item)' has a prefix length outside 0-\(bytes.count * 8)")
            }
            networks.append(Network(bytes: bytes, prefixLength: length))
        }
        self.networks = networks
    }

    /// The client's address: `socket`, or the last `X-Forwarded-For` hop when `socket` is a
    /// trusted proxy and the hop is an IP address.
    public func clientAddress(socket: String?, forwardedFor: String?) -> String? {
        guard let socket, !networks.isEmpty, let bytes = Self.bytes(of: socket),
            networks.contains(where: { $0.contains(bytes) }), let forwardedFor,
            let last = forwardedFor.split(separator: ",").last?.trimmingCharacters(in: .whitespaces),
            Self.bytes(of: last) != nil
        else { return socket }
        return last
    }

    /// An IPv4 or IPv6 address's bytes; an IPv4-mapped IPv6 address counts as IPv4.
    static func bytes(of address: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes.prefix(10).allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { return Array(bytes[12...]) }
        return bytes
    }
}

extension HTTPField.Name {
    /// `X-Forwarded-For`: the addresses a request passed through, the client's first.
    public static let xForwardedFor = Self("X-Forwarded-For")!
}
