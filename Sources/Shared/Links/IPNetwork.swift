import Foundation

/// An IPv4 or IPv6 network: an address and how many of its leading bits must match, from CIDR
/// text (`10.0.0.0/8`, `2001:db8::/32`) or a bare address (one host). An IPv4-mapped IPv6
/// address counts as IPv4, in a network and in an address alike.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    /// The network's address: 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]
    /// Leading bits that must match: 0 to 32 (IPv4) or 128 (IPv6).
    public let prefixLength: Int

    /// Parses `address` or `address/length`; nil when it is neither.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let bytes = Self.bytes(of: String(parts[0])) else { return nil }
        let length: Int?
        if parts.count == 2 {
            // Digits only: `Int("+8")` would take a sign.
            length =
                parts[1].utf8.count <= 3 && parts[1].utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } ? Int(parts[1]) : nil
        } else {
            length = bytes.count * 8
        }
        guard let length, (0...(bytes.count * 8)).contains(length) else { return nil }
        self.bytes = bytes
        self.prefixLength = length
    }

    /// Whether `address` (bytes as ``bytes(of:)`` gives them) is in this network.
    public func contains(_ address: [UInt8]) -> Bool {
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

    /// The network as CIDR text, its address as written by `inet_ntop`.
    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        _ = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) }
        let address = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(address)/\(prefixLength)"
    }

    /// An IPv4 or IPv6 address's bytes; an IPv4-mapped IPv6 address counts as IPv4.
    public static func bytes(of address: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes.prefix(10).allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { return Array(bytes[12...]) }
        return bytes
    }
}
