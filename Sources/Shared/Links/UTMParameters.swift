import Foundation

/// A link's campaign parameters (`utm_source`, `utm_medium`, `utm_campaign`, `utm_term`,
/// `utm_content`), added to its target at redirect time unless the visitor's query sets them.
/// Kept and sent as one query text in a fixed order, each value percent-encoded
/// (``query``), so that a replica adds them without parsing anything.
public struct UTMParameters: Sendable, Hashable {
    /// The parameters' names without their `utm_` prefix, in the order they are written.
    public static let names = ["source", "medium", "campaign", "term", "content"]
    /// Longest value, in characters.
    public static let maximumLength = 200

    /// Name (without `utm_`) → value, for the names given.
    public private(set) var values: [String: String]

    /// Checked values: only ``names``, each 1 to ``maximumLength`` characters without control
    /// characters; nil with the problem otherwise.
    public init(_ values: [String: String]) throws(Problem) {
        for (name, value) in values {
            guard Self.names.contains(name) else {
                throw Problem(
                    message:
                        "'utm' has no field '\(name.prefix(32))'; its fields: \(Self.names.joined(separator: ", "))")
            }
            guard (1...Self.maximumLength).contains(value.count),
                !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
            else {
                throw Problem(
                    message: "'utm.\(name)' must be 1-\(Self.maximumLength) characters without control characters")
            }
        }
        self.values = values
    }

    /// Reads ``query`` back; values that do not decode are left out.
    public init(query: String) {
        var values: [String: String] = [:]
        for parameter in query.split(separator: "&") {
            let parts = parameter.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].hasPrefix("utm_"),
                let value = String(parts[1]).removingPercentEncoding
            else { continue }
            values[String(parts[0].dropFirst(4))] = value
        }
        self.values = values
    }

    /// Why values are no campaign parameters.
    public struct Problem: Error, Equatable, Sendable {
        public let message: String
    }

    /// `utm_source=…&utm_medium=…`, in ``names`` order, values percent-encoded (unreserved
    /// characters kept); empty without values.
    public var query: String {
        Self.names.compactMap { name in
            values[name].map {
                "utm_\(name)=" + ($0.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? "")
            }
        }.joined(separator: "&")
    }

    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}
