import Foundation
import SharedLinks

/// Where a page of `GET /api/links` ends: the last link's creation time and key
/// (``LinkAddress/key``), sent to the client as an opaque base64url token.
struct LinkCursor: Sendable, Equatable {
    let createdAt: Date
    let key: String

    /// The token: base64url of `<microseconds since 1970>:<key>`.
    var token: String {
        let micros = Int64((createdAt.timeIntervalSince1970 * 1_000_000).rounded())
        return Data("\(micros):\(key)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    init(createdAt: Date, key: String) {
        self.createdAt = createdAt
        self.key = key
    }

    /// The times a token may carry, in microseconds since 1970: 1970 up to the year 10000.
    /// Postgres (and PostgresNIO's encoder) accept a wider range, but no link was made
    /// outside this one, and a value far outside it would trap in the conversion.
    static let microsecondRange: ClosedRange<Int64> = 0...253_402_300_800_000_000

    /// Reads a token; nil when it is not one this API made.
    init?(token: String) {
        guard token.utf8.count <= 512 else { return nil }
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8),
            let colon = text.firstIndex(of: ":"), let micros = Int64(text[..<colon]),
            Self.microsecondRange.contains(micros)
        else { return nil }
        guard let address = LinkAddress(key: text[text.index(after: colon)...]),
            address.domain.map({ (try? DomainName.normalized($0)) == $0 }) ?? true
        else { return nil }
        self.init(createdAt: Date(timeIntervalSince1970: Double(micros) / 1_000_000), key: address.key)
    }
}
