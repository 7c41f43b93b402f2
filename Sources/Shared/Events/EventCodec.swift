import Foundation

/// Encodes and decodes the project's events, telling apart the ways a message can be unusable
/// so that consumers can log, count and skip it precisely.
public enum EventCodec {
    /// Encodes an event as compact JSON with RFC 3339 times (fractional seconds, UTC).
    public static func encode<Event: Encodable>(_ event: Event) -> [UInt8] {
        // Encoding our own plain structs cannot fail.
        Array(try! encoder.encode(event))
    }

    /// Decodes a link event of the version this code reads.
    public static func decodeLinkEvent(_ bytes: [UInt8]) throws(EventDecodingError) -> LinkEvent {
        try decode(bytes)
    }

    /// Decodes a click count event of the version this code reads.
    public static func decodeClickCountEvent(_ bytes: [UInt8]) throws(EventDecodingError) -> ClickCountEvent {
        try decode(bytes)
    }

    /// Decodes a milestone event of the version this code reads.
    public static func decodeLinkMilestoneEvent(_ bytes: [UInt8]) throws(EventDecodingError) -> LinkMilestoneEvent {
        try decode(bytes)
    }

    /// Decodes `Event` in one pass when the message is a whole event of the current version (the
    /// usual case); otherwise reads `type` and `version` alone to say why it is unusable.
    static func decode<Event: VersionedEvent>(_ bytes: [UInt8]) throws(EventDecodingError) -> Event {
        let data = Data(bytes)
        if let event = try? decoder.decode(Event.self, from: data) {
            guard event.version == Event.currentVersion else {
                throw .unsupportedVersion(type: event.type.rawValue, version: event.version)
            }
            return event
        }
        let header: EventHeader
        do {
            header = try decoder.decode(EventHeader.self, from: data)
        } catch {
            throw .malformed("not a JSON event with string 'type' and integer 'version': \(error)")
        }
        guard Event.Kind(rawValue: header.type) != nil else { throw .unknownType(header.type) }
        guard header.version == Event.currentVersion else {
            throw .unsupportedVersion(type: header.type, version: header.version)
        }
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

/// An event of the project: a `type` from a fixed set and the `version` of its schema.
public protocol VersionedEvent: Decodable {
    associatedtype Kind: RawRepresentable where Kind.RawValue == String
    /// The schema version this code writes and reads.
    static var currentVersion: Int { get }
    var type: Kind { get }
    var version: Int { get }
}

extension LinkEvent: VersionedEvent {}
extension ClickCountEvent: VersionedEvent {}
extension LinkMilestoneEvent: VersionedEvent {}

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
