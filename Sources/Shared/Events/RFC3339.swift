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
