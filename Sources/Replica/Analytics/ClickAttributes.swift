import Foundation
import SharedEvents
import SharedJSON

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

    /// The click as one field of the code's fresh hash: `1` or `0` (bot or not), the hour, then
    /// referrer, country, device, browser and OS, tab-separated (no value holds a tab). Clicks
    /// alike share a field, so a redirect raises one counter; reports fold them into the stats.
    var field: String {
        (isBot ? "1" : "0") + hour + "\t" + referrer + "\t" + country + "\t" + client.device + "\t"
            + client.browser + "\t" + client.os
    }

    /// The attributes of a click at `time` with these headers, from `address` (the client's).
    /// User agents repeat: their classification is looked up in `clients` first.
    static func of(
        userAgent: String?, referer: String?, address: String?, countries: CountryLookup,
        clients: UserAgentRules.Cache, at time: Date = Date()
    ) -> ClickAttributes {
        ClickAttributes(
            hour: hour(of: time), referrer: ReferrerHost.of(referer),
            country: address.map(countries.country(of:)) ?? CountryLookup.unknown,
            client: clients.classify(userAgent))
    }

    /// `yyyyMMddHH` of `time` in UTC, by integer arithmetic (every redirect asks; a calendar
    /// would cost more than the rest of the attributes together).
    static func hour(of time: Date) -> String {
        let hours = Int64((time.timeIntervalSince1970 / 3600).rounded(.down))
        let (days, hour) = (hours >= 0 ? hours / 24 : (hours - 23) / 24, ((hours % 24) + 24) % 24)
        let (year, month, day) = RFC3339.civil(daysSinceEpoch: Int(days))
        func two(_ value: some BinaryInteger) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)" + two(month) + two(day) + two(hour)
    }
}
