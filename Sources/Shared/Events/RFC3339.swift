import Foundation

/// Parses RFC 3339 timestamps with or without fractional seconds (`2026-11-22T10:00:00Z`,
/// `2026-11-22T10:00:00.250+01:00`).
public enum RFC3339 {
    private static let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    private static let withoutFraction = Date.ISO8601FormatStyle()

    /// The instant `text` names; throws when it is not RFC 3339.
    public static func parse(_ text: String) throws -> Date {
        if let date = try? withoutFraction.parse(text) { return date }
        return try withFraction.parse(text)
    }

    /// Formats an instant in UTC with milliseconds.
    public static func format(_ date: Date) -> String { withFraction.format(date) }
}

extension JSONEncoder {
    /// The project's one JSON style, for events and HTTP answers alike: sorted keys, plain
    /// slashes in URLs (`https://…`, not `https:\/\/…`), RFC 3339 times with milliseconds in UTC.
    public static let project: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(RFC3339.format(date))
        }
        return encoder
    }()
}
