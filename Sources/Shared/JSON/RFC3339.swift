import Foundation

/// Parses RFC 3339 timestamps with or without fractional seconds (`2026-11-22T10:00:00Z`,
/// `2026-11-22T10:00:00.250+01:00`).
public enum RFC3339 {
    private static let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    private static let withoutFraction = Date.ISO8601FormatStyle()

    /// The instant `text` names; throws when it is not RFC 3339.
    public static func parse(_ text: String) throws -> Date {
        if let date = utcWithMilliseconds(text) { return date }
        if let date = try? withoutFraction.parse(text) { return date }
        return try withFraction.parse(text)
    }

    /// `yyyy-MM-ddTHH:mm:ss.SSSZ` from 1970 on, the shape ``format(_:)`` writes (every time in
    /// every event), read without the formatter, whose parse was a tenth of a replica's work per
    /// event: the same instant, or nil for any other shape or an earlier year (the formatter
    /// counts those in the Julian calendar before 1582).
    static func utcWithMilliseconds(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { utf8 -> Date? in
            guard utf8.count == 24, utf8[4] == UInt8(ascii: "-"), utf8[7] == UInt8(ascii: "-"),
                utf8[10] == UInt8(ascii: "T"), utf8[13] == UInt8(ascii: ":"), utf8[16] == UInt8(ascii: ":"),
                utf8[19] == UInt8(ascii: "."), utf8[23] == UInt8(ascii: "Z")
            else { return nil }
            func number(_ digits: Range<Int>) -> Int? {
                var value = 0
                for index in digits {
                    let digit = utf8[index] &- UInt8(ascii: "0")
                    guard digit < 10 else { return nil }
                    value = value * 10 + Int(digit)
                }
                return value
            }
            guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
                let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
                let milliseconds = number(20..<23), year >= 1970, (1...12).contains(month),
                (1...daysIn(month: month, of: year)).contains(day), hour < 24, minute < 60, second < 60
            else { return nil }
            let seconds =
                daysSinceEpoch(year: year, month: month, day: day) * 86_400 + hour * 3_600 + minute * 60 + second
            // From the reference date, as the formatter counts: the same Double to the last bit.
            return Date(
                timeIntervalSinceReferenceDate: Double(seconds - 978_307_200) + Double(milliseconds) / 1_000)
        }
    }

    private static func daysIn(month: Int, of year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant's
    /// `days_from_civil`).
    private static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let year = month <= 2 ? year - 1 : year
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Formats an instant in UTC with milliseconds.
    public static func format(_ date: Date) -> String { utcWithMilliseconds(date) ?? withFraction.format(date) }

    /// Appends ``format(_:)``'s text of `date` to `bytes`: from 1970 to 9999 (every event's
    /// time) without a `String` on the way.
    public static func append(_ date: Date, to bytes: inout [UInt8]) {
        if !appendUTCWithMilliseconds(date, to: &bytes) { bytes += withFraction.format(date).utf8 }
    }

    /// ``format(_:)`` from 1970 to 9999 without the formatter, or nil outside those years.
    static func utcWithMilliseconds(_ date: Date) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        guard appendUTCWithMilliseconds(date, to: &bytes) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends ``format(_:)``'s text from 1970 to 9999 without the formatter, whose format was a
    /// visit event's largest cost; false, appending nothing, outside those years. Milliseconds
    /// are cut, not rounded, as the formatter does. Unlike the formatter it writes back the text
    /// an instant was read from: a millisecond's `Double` often lies a few nanoseconds below
    /// it, which the formatter cuts to the millisecond before, so a visit read and shown again
    /// moved back one.
    static func appendUTCWithMilliseconds(_ date: Date, to bytes: inout [UInt8]) -> Bool {
        let interval = date.timeIntervalSince1970
        guard interval >= 0, interval < 253_402_300_800 else { return false }
        // Whole seconds from the reference date, as the formatter counts, and the rest cut to
        // milliseconds, where a millisecond within the `Double`'s precision above counts as met.
        let reference = date.timeIntervalSinceReferenceDate
        var whole = reference.rounded(.down)
        let fraction = reference - whole
        var milliseconds = Int(fraction * 1_000)
        if Double(milliseconds + 1) / 1_000 - fraction <= reference.ulp { milliseconds += 1 }
        if milliseconds == 1_000 {
            whole += 1
            milliseconds = 0
        }
        let seconds = Int(whole) + 978_307_200
        let (year, month, day) = civil(daysSinceEpoch: seconds / 86_400)
        let time = seconds % 86_400
        func put(_ value: Int, digits: Int, then separator: UInt8) {
            var divisor = digits == 4 ? 1_000 : digits == 3 ? 100 : 10
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
            bytes.append(separator)
        }
        put(year, digits: 4, then: UInt8(ascii: "-"))
        put(month, digits: 2, then: UInt8(ascii: "-"))
        put(day, digits: 2, then: UInt8(ascii: "T"))
        put(time / 3_600, digits: 2, then: UInt8(ascii: ":"))
        put(time / 60 % 60, digits: 2, then: UInt8(ascii: ":"))
        put(time % 60, digits: 2, then: UInt8(ascii: "."))
        put(milliseconds, digits: 3, then: UInt8(ascii: "Z"))
        return true
    }

    /// The date in the proleptic Gregorian calendar of a day counted from 1970-01-01
    /// (H. Hinnant's `civil_from_days`), by integer arithmetic.
    public static func civil(daysSinceEpoch days: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
