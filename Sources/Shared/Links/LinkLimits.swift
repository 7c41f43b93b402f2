import Foundation

/// Bounds every link obeys wherever it is checked: on create at the master and on every link
/// event a consumer decodes.
public enum LinkLimits {
    /// The first instant `expires_at` may not reach: 10000-01-01T00:00:00Z (RFC 3339 has
    /// four-digit years).
    public static let latestExpiry = Date(timeIntervalSince1970: 253_402_300_800)
}
