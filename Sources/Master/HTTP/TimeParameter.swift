import Foundation
import SharedJSON
import SharedLinks
import SharedService

/// A time in a query parameter (`from`, `to`): RFC 3339, between 1970 and 9999, or
/// `400 invalid_window` naming the parameter.
enum TimeParameter {
    /// The time `text` names.
    static func parse(_ text: String, name: String) throws(APIError) -> Date {
        guard let date = try? RFC3339.parse(text), date.timeIntervalSince1970 >= 0, date < LinkLimits.latestExpiry
        else {
            throw APIError(.badRequest, "invalid_window", "'\(name)' must be an RFC 3339 time between 1970 and 9999")
        }
        return date
    }
}
