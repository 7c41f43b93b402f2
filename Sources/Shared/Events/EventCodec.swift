import Foundation
import SharedLinks
import SharedJSON

/// Encodes and decodes the project's events, telling apart the ways a message can be unusable
/// so that consumers can log, count and skip it precisely.
public enum EventCodec {
    /// Encodes an event as compact JSON with RFC 3339 times (fractional seconds, UTC).
    public static func encode<Event: Encodable>(_ event: Event) -> [UInt8] {
        // Encoding our own plain structs cannot fail.
        Array(try! encoder.encode(event))
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
            if let problem = event.rangeProblem { throw .malformed("\(event.type.rawValue): \(problem)") }
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
        let event: Event
        do {
            event = try decoder.decode(Event.self, from: data)
        } catch {
            throw .malformed("\(header.type) v\(header.version): \(error)")
        }
        if let problem = event.rangeProblem { throw .malformed("\(header.type): \(problem)") }
        return event
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
    /// What in a decoded event lies outside the range its consumers can store (a negative
    /// total, a code no link can have, a control character in an identifier); nil when nothing.
    /// Such an event is unusable like a malformed one: dead-lettered, never retried.
    var rangeProblem: String? { get }
}

/// Whether `text` is 1-64 visible ASCII characters: what identifiers on the wire may be.
private func isIdentifier(_ text: String) -> Bool {
    (1...64).contains(text.utf8.count) && text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
}

/// Why `domain`, a domain named on the wire, is no stored domain name; nil when it is one.
private func domainProblem(_ domain: String?) -> String? {
    guard let domain else { return nil }
    guard (try? DomainName.normalized(domain)) == domain else { return "'domain' is not a normalised host name" }
    return nil
}

extension LinkEvent: VersionedEvent {
    public var rangeProblem: String? {
        guard ShortCode.isWellFormed(code) else { return "'code' is not a short code" }
        if let problem = domainProblem(domain) { return problem }
        guard revision >= 0 else { return "'revision' is negative" }
        if let url, url.isEmpty || url.utf8.count > 8192 || url.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            return "'url' is empty, too long or has control characters"
        }
        // A replica redirects to it: nothing but http(s), whoever wrote the event.
        if let url, !Self.isHTTP(url) { return "'url' is not an http or https URL" }
        if let routing,
            routing.targets.contains(where: { target in
                !Self.isHTTP(target) || target.utf8.count > 8192 || target.utf8.contains { $0 < 0x20 || $0 == 0x7F }
            })
        {
            return "a target of 'routing' is not an http or https URL"
        }
        if let passwordHash,
            !(1...256).contains(passwordHash.utf8.count)
                || !passwordHash.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        {
            return "'password_hash' is not 1-256 bytes of printable ASCII"
        }
        if let maxClicks, maxClicks < 1 { return "'max_clicks' is below 1" }
        if let utm,
            utm.isEmpty || utm.utf8.count > 2048 || !utm.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x23 })
        {
            return "'utm' is not 1-2048 bytes of printable ASCII without #"
        }
        if let redirectType, RedirectOptions.Status(rawValue: redirectType) == nil {
            return "'redirect_type' is not 301, 302, 307 or 308"
        }
        if let tags, let problem = LinkTags.problem(with: tags) { return "'tags': \(problem)" }
        if type == .created || type == .updated, url == nil { return "'url' is missing" }
        if let expiresAt, !(0..<LinkLimits.latestExpiry.timeIntervalSince1970).contains(expiresAt.timeIntervalSince1970)
        {
            return "'expires_at' is not between 1970 and the year 10000"
        }
        return nil
    }
}

extension LinkEvent {
    /// Whether `url` starts with `http://` or `https://` (any case).
    static func isHTTP(_ url: String) -> Bool {
        let scheme = url.utf8.prefix(8).map { $0 | 0x20 }
        return scheme.starts(with: "http://".utf8) || scheme.starts(with: "https://".utf8)
    }
}

extension ClickCountEvent: VersionedEvent {
    public var rangeProblem: String? {
        guard ShortCode.isWellFormed(code) else { return "'code' is not a short code" }
        if let problem = domainProblem(domain) { return problem }
        guard ShortCode.isWellFormed(replicaID) else { return "'replica_id' is not 1-64 of A-Z a-z 0-9 _ -" }
        guard isIdentifier(replicaEpoch) else { return "'replica_epoch' is not 1-64 visible ASCII characters" }
        guard (0...Self.maximumTotal).contains(total) else { return "'total' is not 0 to \(Self.maximumTotal)" }
        if let problem = humans?.rangeProblem ?? bots?.rangeProblem { return problem }
        return nil
    }
}

extension LinkMilestoneEvent: VersionedEvent {
    public var rangeProblem: String? {
        guard ShortCode.isWellFormed(code) else { return "'code' is not a short code" }
        if let problem = domainProblem(domain) { return problem }
        guard milestone >= 1, clicks >= milestone else { return "'milestone' or 'clicks' out of range" }
        return nil
    }
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
