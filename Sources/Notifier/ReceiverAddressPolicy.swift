import Foundation
import NIOConcurrencyHelpers
import NIOPosix

/// Decides whether a webhook receiver may be called: by default only when every address its
/// host resolves to is public, so a webhook setting can never be turned against the loopback
/// interface, the private network or a cloud metadata endpoint (169.254.169.254). Lookups run
/// on NIO's blocking thread pool and their verdicts are kept for ``verdictLifetime``.
final class ReceiverAddressPolicy: Sendable {
    /// Why a receiver is not called.
    struct Refusal: Error, CustomStringConvertible {
        let description: String
    }

    /// Whether loopback, private and link-local receivers are allowed (local set-ups and tests).
    let allowsPrivateAddresses: Bool
    /// How long a host's verdict is trusted before it is resolved again. Default: 30 s.
    let verdictLifetime: Duration
    private let verdicts = NIOLockedValueBox<[String: (refusal: Refusal?, until: ContinuousClock.Instant)]>([:])

    init(allowsPrivateAddresses: Bool, verdictLifetime: Duration = .seconds(30)) {
        self.allowsPrivateAddresses = allowsPrivateAddresses
        self.verdictLifetime = verdictLifetime
    }

    /// Throws ``Refusal`` when `host` is, or resolves to, an address that is not public.
    func check(host: String) async throws {
        guard !allowsPrivateAddresses else { return }
        let now = ContinuousClock.now
        if let cached = verdicts.withLockedValue({ $0[host] }), cached.until > now {
            if let refusal = cached.refusal { throw refusal }
            return
        }
        let addresses = try await NIOThreadPool.singleton.runIfActive { Self.resolve(host) }
        let refusal: Refusal? =
            if addresses.isEmpty {
                Refusal(description: "its host does not resolve")
            } else if let address = addresses.first(where: { !Self.isPublic($0) }) {
                Refusal(description: "its host resolves to \(address.text), which is not a public address")
            } else {
                nil
            }
        verdicts.withLockedValue { $0[host] = (refusal, now + verdictLifetime) }
        if let refusal { throw refusal }
    }

    /// An address as raw bytes (4 for IPv4, 16 for IPv6) and as text.
    struct Address {
        let bytes: [UInt8]
        var text: String {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            let family = bytes.count == 4 ? AF_INET : AF_INET6
            return bytes.withUnsafeBytes { raw in
                inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
                    ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
            }
        }
    }

    /// Every address `host` (a name or an IP literal, IPv6 with or without brackets) resolves to.
    static func resolve(_ host: String) -> [Address] {
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
    /// private (RFC 1918, unique-local), shared (100.64/10), link-local, multicast or reserved.
    static func isPublic(_ address: Address) -> Bool {
        let b = address.bytes
        if b.count == 4 {
            switch (b[0], b[1]) {
            case (0, _), (10, _), (127, _), (169, 254), (192, 168): return false
            case (172, 16...31), (100, 64...127): return false
            case (224...255, _): return false
            default: return true
            }
        }
        guard b.count == 16 else { return false }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF {  // IPv4-mapped
            return isPublic(Address(bytes: Array(b[12..<16])))
        }
        if b[0..<15].allSatisfy({ $0 == 0 }) { return false }  // :: and ::1
        if b[0] & 0xFE == 0xFC { return false }  // fc00::/7, unique local
        if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return false }  // fe80::/10, link local
        if b[0] == 0xFF { return false }  // multicast
        return true
    }
}
