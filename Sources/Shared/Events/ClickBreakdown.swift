/// Where one replica's clicks on one code came from, as running totals within its epoch, like
/// the click total itself: per dimension, value → clicks. The hour dimension is UTC hours as
/// `yyyyMMddHH`; the others hold the values the replica recorded (at most its cap per
/// dimension, the rest as `other`).
///
/// A click counts once in each dimension, so for every dimension but the hours (of which a
/// replica forgets those long reported) the values sum to the clicks.
public struct ClickBreakdown: Codable, Sendable, Hashable {
    /// The dimensions a click is recorded in.
    public enum Dimension: String, Codable, Sendable, CaseIterable, Hashable {
        /// The UTC hour, `yyyyMMddHH`.
        case hour
        /// The `Referer` host, `direct` or `invalid`.
        case referrer
        /// ISO 3166 country code of the client address, or `unknown`.
        case country
        /// `desktop`, `mobile`, `tablet` or `bot`.
        case device
        /// Browser family.
        case browser
        /// OS family.
        case os
        /// Of a link with rules or a split: the rule that held (`1` …), or `default`.
        case rule
        /// Of a link with a split: the variant shown, as `<rule>/<variant>` (`default/2`).
        case variant
    }

    /// Dimension → value → clicks.
    public var values: [Dimension: [String: Int64]]

    public init(_ values: [Dimension: [String: Int64]] = [:]) { self.values = values }

    public init(from decoder: any Decoder) throws {
        let raw = try [String: [String: Int64]](from: decoder)
        var values: [Dimension: [String: Int64]] = [:]
        for (name, counts) in raw {
            guard let dimension = Dimension(rawValue: name) else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: "unknown dimension '\(name)'"))
            }
            values[dimension] = counts
        }
        self.values = values
    }

    public func encode(to encoder: any Encoder) throws {
        try Dictionary(uniqueKeysWithValues: values.map { ($0.key.rawValue, $0.value) }).encode(to: encoder)
    }

    /// Most values one dimension may carry in an event (the replica's cap is at most 1000).
    public static let maximumValues = 10_000

    /// What lies outside the range a consumer can store, or nil.
    var rangeProblem: String? {
        for (dimension, counts) in values {
            guard counts.count <= Self.maximumValues else { return "'\(dimension.rawValue)' has too many values" }
            for (value, total) in counts {
                guard (0...ClickCountEvent.maximumTotal).contains(total) else {
                    return "a count in '\(dimension.rawValue)' is not 0 to \(ClickCountEvent.maximumTotal)"
                }
                guard (1...253).contains(value.utf8.count), value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
                    return "a value of '\(dimension.rawValue)' is not 1-253 printable ASCII characters"
                }
                if dimension == .hour, value.utf8.count != 10 || !value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                    return "an hour is not yyyyMMddHH"
                }
            }
        }
        return nil
    }
}
