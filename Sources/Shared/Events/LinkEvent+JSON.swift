import Foundation
import SharedJSON
import SharedLinks

extension EventCodec {
    /// A link event as compact JSON, written by hand (``JSONWriter``): the same bytes as the
    /// generic encoder of events writes, at a fraction of the cost. Every create encodes one,
    /// and Foundation's encoder was a quarter of the group-commit writer's work.
    public static func encode(_ event: LinkEvent) -> [UInt8] {
        var json = JSONWriter()
        json.open()
        json.field("code", event.code)
        json.field("crawlable", event.crawlable)
        json.field("domain", event.domain)
        json.field("event_id", event.eventID)
        json.field("exhausted", event.exhausted)
        json.field("expires_at", event.expiresAt)
        json.field("forward_query", event.forwardQuery)
        json.field("max_clicks", event.maxClicks)
        json.field("occurred_at", event.occurredAt)
        json.field("password_hash", event.passwordHash)
        json.field("reannounced", event.reannounced)
        json.field("redirect_type", event.redirectType.map(Int64.init))
        json.field("revision", event.revision)
        json.rawField("routing", event.routing?.json)
        json.field("tags", event.tags)
        json.field("type", event.type.rawValue)
        json.field("url", event.url)
        json.field("utm", event.utm)
        json.field("version", Int64(event.version))
        json.close()
        return json.bytes
    }

    /// Decodes a link event of the version this code reads, by hand (``JSONReader``). Every
    /// replica and the notifier decode each link event, and Foundation's decoder was about
    /// two fifths of their work. It tells unusable messages apart as ``decode(_:)`` does, and
    /// accepts no message that ``decode(_:)`` would refuse or read differently.
    public static func decodeLinkEvent(_ bytes: [UInt8]) throws(EventDecodingError) -> LinkEvent {
        var members = LinkEventMembers()
        do {
            var reader = JSONReader(bytes)
            try reader.readObject { reader, key in try members.read(key, from: &reader) }
            try reader.finish()
        } catch {
            throw .malformed("not a JSON event with string 'type' and integer 'version': \(error)")
        }
        return try members.event()
    }
}

/// The members of a link event as read, before they are checked.
private struct LinkEventMembers {
    var type: String?
    var version: Int64?
    var eventID: String?
    var occurredAt: String?
    var code: String?
    var domain: String?
    var revision: Int64?
    var url: String?
    var expiresAt: String?
    var maxClicks: Int64?
    var tags: [String]?
    var exhausted: Bool?
    var reannounced: Bool?
    var redirectType: Int64?
    var forwardQuery: Bool?
    var crawlable: Bool?
    var utm: String?
    var routing: ArraySlice<UInt8>?
    var passwordHash: String?
    var reading = MemberReader()

    mutating func read(_ key: String, from reader: inout JSONReader) throws {
        switch key {
        case "type": type = try reading.string(key, from: &reader)
        case "version": version = try reading.integer(key, from: &reader)
        case "event_id": eventID = try reading.string(key, from: &reader)
        case "occurred_at": occurredAt = try reading.string(key, from: &reader)
        case "code": code = try reading.string(key, from: &reader)
        case "domain": domain = try reading.string(key, from: &reader)
        case "revision": revision = try reading.integer(key, from: &reader)
        case "url": url = try reading.string(key, from: &reader)
        case "expires_at": expiresAt = try reading.string(key, from: &reader)
        case "max_clicks": maxClicks = try reading.integer(key, from: &reader)
        case "tags": tags = try reading.strings(key, from: &reader)
        case "exhausted": exhausted = try reading.bool(key, from: &reader)
        case "reannounced": reannounced = try reading.bool(key, from: &reader)
        case "redirect_type": redirectType = try reading.integer(key, from: &reader)
        case "forward_query": forwardQuery = try reading.bool(key, from: &reader)
        case "crawlable": crawlable = try reading.bool(key, from: &reader)
        case "utm": utm = try reading.string(key, from: &reader)
        case "routing": routing = try reader.readRawValue()
        case "password_hash": passwordHash = try reading.string(key, from: &reader)
        default: try reader.skipValue()
        }
    }

    /// The event these members make, or why they make none.
    func event() throws(EventDecodingError) -> LinkEvent {
        guard let type, let version, let wideVersion = Int(exactly: version) else {
            throw .malformed("not a JSON event with string 'type' and integer 'version'")
        }
        guard let kind = LinkEvent.Kind(rawValue: type) else { throw .unknownType(type) }
        guard wideVersion == LinkEvent.currentVersion else {
            throw .unsupportedVersion(type: type, version: wideVersion)
        }
        func malformed(_ problem: String) -> EventDecodingError { .malformed("\(type) v\(version): \(problem)") }
        if let mismatch = reading.mismatch { throw malformed(mismatch) }
        guard let eventID else { throw malformed("'event_id' is missing") }
        guard let id = UUID(uuidString: eventID) else { throw malformed("'event_id' is not a UUID") }
        guard let occurredAt else { throw malformed("'occurred_at' is missing") }
        guard let occurred = try? RFC3339.parse(occurredAt) else { throw malformed("'occurred_at' is not RFC 3339") }
        guard let code else { throw malformed("'code' is missing") }
        guard let revision else { throw malformed("'revision' is missing") }
        var expiry: Date?
        if let expiresAt {
            guard let date = try? RFC3339.parse(expiresAt) else { throw malformed("'expires_at' is not RFC 3339") }
            expiry = date
        }
        var event = LinkEvent(
            type: kind, version: wideVersion, eventID: id, occurredAt: occurred, code: code, domain: domain,
            revision: revision,
            url: url, expiresAt: expiry, maxClicks: maxClicks, tags: tags, exhausted: exhausted,
            reannounced: reannounced)
        if let redirectType {
            guard let status = Int(exactly: redirectType) else { throw malformed("'redirect_type' is out of range") }
            event.redirectType = status
        }
        event.forwardQuery = forwardQuery
        event.crawlable = crawlable
        event.utm = utm
        event.passwordHash = passwordHash
        if let routing, routing != ArraySlice("null".utf8) {
            do {
                event.routing = try LinkRouting.parse(routing)
            } catch {
                throw malformed("'routing': \(error)")
            }
        }
        if let problem = event.rangeProblem { throw .malformed("\(type): \(problem)") }
        return event
    }
}
