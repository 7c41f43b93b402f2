import Foundation

/// Encodes and decodes the project's events, telling apart the ways a message can be unusable
/// so that consumers can log, count and skip it precisely.
public enum EventCodec {
    /// Encodes an event as compact JSON with RFC 3339 times (fractional seconds, UTC).
    public static func encode<Event: Encodable>(_ event: Event) -> [UInt8] {
        // Encoding our own plain structs cannot fail.
        Array(try! encoder.encode(event))
    }

    /// Decodes a link event, checking `type` and `version` before the rest.
    public static func decodeLinkEvent(_ bytes: [UInt8]) throws(EventDecodingError) -> LinkEvent {
        try decode(
            bytes, knownTypes: Set(LinkEvent.Kind.allCases.map(\.rawValue)),
            version: LinkEvent.currentVersion)
    }

    /// Decodes a click count event, checking `type` and `version` before the rest.
    public static func decodeClickCountEvent(_ bytes: [UInt8]) throws(EventDecodingError) -> ClickCountEvent {
        try decode(
            bytes, knownTypes: Set(ClickCountEvent.Kind.allCases.map(\.rawValue)),
            version: ClickCountEvent.currentVersion)
    }

    /// Decodes a milestone event, checking `type` and `version` before the rest.
    public static func decodeLinkMilestoneEvent(_ bytes: [UInt8]) throws(EventDecodingError) -> LinkMilestoneEvent {
        try decode(
            bytes, knownTypes: Set(LinkMilestoneEvent.Kind.allCases.map(\.rawValue)),
            version: LinkMilestoneEvent.currentVersion)
    }

    static func decode<Event: Decodable>(_ bytes: [UInt8], knownTypes: Set<String>, version: Int)
        throws(EventDecodingError) -> Event
    {
        let data = Data(bytes)
        let header: EventHeader
        do {
            header = try decoder.decode(EventHeader.self, from: data)
        } catch {
            throw .malformed("not a JSON event with string 'type' and integer 'version': \(error)")
        }
        guard knownTypes.contains(header.type) else { throw .unknownType(header.type) }
        guard header.version == version else { throw .unsupportedVersion(type: header.type, version: header.version) }
        do {
            return try decoder.decode(Event.self, from: data)
        } catch {
            throw .malformed("\(header.type) v\(header.version): \(error)")
        }
    }

    private struct EventHeader: Decodable {
        let type: String
        let version: Int
    }

    private static let encoder = JSONEncoder.project

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            return try RFC3339.parse(text)
        }
        return decoder
    }()
}

/// Why a message could not be decoded into an event.
public enum EventDecodingError: Error, Equatable, CustomStringConvertible, Sendable {
    /// Not JSON, or fields missing or of the wrong type.
    case malformed(String)
    /// A `type` this version of the code does not know.
    case unknownType(String)
    /// A known type in a schema version this code does not read.
    case unsupportedVersion(type: String, version: Int)

    /// A short fixed label for metrics and logs.
    public var reason: String {
        switch self {
        case .malformed: "malformed"
        case .unknownType: "unknown_type"
        case .unsupportedVersion: "unsupported_version"
        }
    }

    public var description: String {
        switch self {
        case .malformed(let detail): "malformed event: \(detail)"
        case .unknownType(let type): "unknown event type '\(type)'"
        case .unsupportedVersion(let type, let version): "unsupported version \(version) of '\(type)'"
        }
    }
}
