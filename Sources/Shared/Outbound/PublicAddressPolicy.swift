import Foundation
import NIOConcurrencyHelpers
import NIOPosix

/// Decides whether an outbound call to an address that someone outside chose (a webhook
/// receiver, a link's target whose title the master fetches) may be made: by default only when
/// every address its host resolves to is public, so such a setting can never be turned against
/// the loopback interface, the private network or a cloud metadata endpoint (169.254.169.254).
/// Lookups run on NIO's blocking thread pool and their verdicts are kept for ``verdictLifetime``.
///
/// The check returns the address it checked, and the call connects to that one
/// (``PinnedHTTPClient``): resolving the name again to connect would let a DNS server answer
/// a public address to the check and a private one to the connection (DNS rebinding).
public final class PublicAddressPolicy: Sendable {
    /// Why a call is not made.
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    /// Whether loopback, private and link-local addresses are allowed (local set-ups and tests).
    public let allowsPrivateAddresses: Bool
    /// How long a host's verdict is trusted before it is resolved again. Default: 30 s.
    public let verdictLifetime: Duration
    private let verdicts = NIOLockedValueBox<
        [String: (verdict: Result<String, Refusal>, until: ContinuousClock.Instant)]
    >([:])

    public init(allowsPrivateAddresses: Bool, verdictLifetime: Duration = .seconds(30)) {
        self.allowsPrivateAddresses = allowsPrivateAddresses
        self.verdictLifetime = verdictLifetime
    }

    /// The public address to connect to for `host` (the first it resolves to), or nil when
    /// private addresses are allowed (the name is resolved as usual then); throws ``Refusal``
    /// when `host` is, or resolves to, an address that is not public.
    public func check(host: String) async throws -> String? {
        guard !allowsPrivateAddresses else { return nil }
        let now = ContinuousClock.now
        if let cached = verdicts.withLockedValue({ $0[host] }), cached.until > now { return try cached.verdict.get() }
        let addresses = try await NIOThreadPool.singleton.runIfActive { Self.resolve(host) }
        let verdict: Result<String, Refusal> =
            if let first = addresses.first {
                if let address = addresses.first(where: { !Self.isPublic($0) }) {
                    .failure(
                        Refusal(description: "its host resolves to \(address.text), which is not a public address"))
                } else {
                    .success(first.text)
                }
            } else {
                .failure(Refusal(description: "its host does not resolve"))
            }
        verdicts.withLockedValue { $0[host] = (verdict, now + verdictLifetime) }
        return try verdict.get()
    }

    /// An address as raw bytes (4 for IPv4, 16 for IPv6) and as text.
    public struct Address: Sendable {
        public let bytes: [UInt8]
        public var text: String {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            let family = bytes.count == 4 ? AF_INET : AF_INET6
            return bytes.withUnsafeBytes { raw in
                inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
                    ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
            }
        }
    }

    /// Every address `host` (a name or an IP literal, IPv6 with or without brackets) resolves to.
    public static func resolve(_ host: String) -> [Address] {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var addresses: [Address] = []
        var entry = list
        while let info = entry?.pointee {
            if info.ai_family == AF_INET, let socketAddress = info.ai_addr {
                let v4 = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                addresses.append(Address(bytes: withUnsafeBytes(of: v4) { Array($0) }))
            } else if info.ai_family == AF_INET6, let socketAddress = info.ai_addr {
                let v6 = socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                addresses.append(Address(bytes: withUnsafeBytes(of: v6) { Array($0) }))
            }
            entry = info.ai_next
        }
        return addresses
    }

    /// Whether an address is reachable on the public internet: not unspecified, loopback,
    /// private (RFC 1918, unique-local), shared (100.64/10), link-local, benchmarking
    /// (198.18/15), protocol assignments (192.0.0/24), documentation (192.0.2/24,
    /// 198.51.100/24, 203.0.113/24), multicast or reserved (240/4), an IPv4-mapped form of one,
    /// nor NAT64 (64:ff9b::/96) or 6to4 (2002::/16).
    public static func isPublic(_ address: Address) -> Bool {
        let b = address.bytes
        if b.count == 4 {
            switch (b[0], b[1], b[2]) {
            case (0, _, _), (10, _, _), (127, _, _), (169, 254, _), (192, 168, _): return false
            case (172, 16...31, _), (100, 64...127, _), (198, 18...19, _): return false
            case (192, 0, 0), (192, 0, 2), (198, 51, 100), (203, 0, 113): return false
            case (224...255, _, _): return false
            default: return true
            }
        }
        guard b.count == 16 else { return false }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF {  // IPv4-mapped
            return isPublic(Address(bytes: Array(b[12..<16])))
        }
        // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach IPv4 addresses through a gateway,
        // private ones included: refused, as the deprecated or translating forms they are.
        if b[0..<12].elementsEqual([0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0]) { return false }
        if b[0] == 0x20 && b[1] == 0x02 { return false }
        if b[0..<15].allSatisfy({ $0 == 0 }) { return false }  // :: and ::1
        if b[0] & 0xFE == 0xFC { return false }  // fc00::/7, unique local
        if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return false }  // fe80::/10, link local
        if b[0] == 0xFF { return false }  // multicast
        return true
    }
}
