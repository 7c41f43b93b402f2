import Foundation
import SharedEvents

/// What a redirect records about its click besides the click: its UTC hour and one value per
/// dimension (``ClickBreakdown/Dimension``). Worked out from the request before the one Redis
/// round trip that resolves the code and counts the click.
struct ClickAttributes: Equatable, Sendable {
    /// The UTC hour, `yyyyMMddHH`.
    var hour: String
    var referrer: String
    var country: String
    var client: UserAgentRules.Client

    /// Whether the click counts as a bot's.
    var isBot: Bool { client.device == "bot" }

    /// The values of the recorded dimensions, in the order the visit script takes them:
    /// referrer, country, device, browser, os.
    var values: [String] { [referrer, country, client.device, client.browser, client.os] }

    /// The attributes of a click at `time` with these headers, from `address` (the client's).
    static func of(
        userAgent: String?, referer: String?, address: String?, countries: CountryLookup, at time: Date = Date()
    ) -> ClickAttributes {
        ClickAttributes(
            hour: hour(of: time), referrer: ReferrerHost.of(referer),
            country: address.map(countries.country(of:)) ?? CountryLookup.unknown,
            client: UserAgentRules.classify(userAgent))
    }

    /// `yyyyMMddHH` of `time` in UTC.
    static func hour(of time: Date) -> String {
        let parts = Calendar.utc.dateComponents([.year, .month, .day, .hour], from: time)
        return String(
            format: "%04d%02d%02d%02d", parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1, parts.hour ?? 0)
    }
}

extension Calendar {
    /// The Gregorian calendar in UTC.
    static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()
}
