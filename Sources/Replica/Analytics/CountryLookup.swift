import CGeoIP
import Foundation

/// The country of a client address, from Debian's GeoIP country databases (`geoip-database`,
/// IPv4 and IPv6), loaded into memory once. The only user of libGeoIP.
///
/// `@unchecked Sendable`: the databases are opened with `GEOIP_MEMORY_CACHE` and never change;
/// lookups use the `_gl` functions, which keep their per-lookup state on the caller's stack, so
/// any thread may look up at any time.
final class CountryLookup: @unchecked Sendable {
    /// What a lookup answers when the address is not in the database (private, loopback,
    /// unassigned) or no database could be opened.
    static let unknown = "unknown"

    /// Where Debian's `geoip-database` puts its files.
    static let defaultDirectory = "/usr/share/GeoIP"

    private let ipv4: UnsafeMutablePointer<GeoIP>?
    private let ipv6: UnsafeMutablePointer<GeoIP>?

    /// Opens `GeoIP.dat` and `GeoIPv6.dat` in `directory`; a missing one answers ``unknown``.
    init(directory: String = defaultDirectory) {
        let flags = Int32(GEOIP_MEMORY_CACHE.rawValue | GEOIP_SILENCE.rawValue)
        ipv4 =
            FileManager.default.fileExists(atPath: "\(directory)/GeoIP.dat")
            ? GeoIP_open("\(directory)/GeoIP.dat", flags) : nil
        ipv6 =
            FileManager.default.fileExists(atPath: "\(directory)/GeoIPv6.dat")
            ? GeoIP_open("\(directory)/GeoIPv6.dat", flags) : nil
    }

    deinit {
        if let ipv4 { GeoIP_delete(ipv4) }
        if let ipv6 { GeoIP_delete(ipv6) }
    }

    /// Whether the databases could be opened (the replica logs it when not).
    var isAvailable: Bool { ipv4 != nil && ipv6 != nil }

    /// The ISO 3166 code of `address` (`DE`, `US`, …), or ``unknown``.
    func country(of address: String) -> String {
        var code: UnsafePointer<CChar>?
        var lookup = GeoIPLookup()
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, address, &v4) == 1, let ipv4 {
            code = GeoIP_country_code_by_ipnum_gl(ipv4, UInt(UInt32(bigEndian: v4.s_addr)), &lookup)
        } else if inet_pton(AF_INET6, address, &v6) == 1, let ipv6 {
            code = GeoIP_country_code_by_ipnum_v6_gl(ipv6, v6, &lookup)
        }
        guard let code else { return Self.unknown }
        let text = String(cString: code)
        // "--", "A1" (anonymous proxy) and the like are no country.
        guard text.count == 2, text.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }), text != "A1", text != "A2",
            text != "AP", text != "EU"
        else { return Self.unknown }
        return text
    }
}
