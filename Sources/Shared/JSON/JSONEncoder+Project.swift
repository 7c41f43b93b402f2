import Foundation

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
