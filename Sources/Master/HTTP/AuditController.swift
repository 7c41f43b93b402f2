import Foundation
import Hummingbird
import SharedEvents
import SharedJSON
import SharedKafka
import SharedResilience
import SharedService

/// `GET /api/audit?since=&cursor=&limit=`, in the `/api` group behind the key check
/// (``AccessRight/readAudit``, admins only): the audit trail from `<ns>-audit`, oldest first,
/// a page at a time.
struct AuditController: Sendable {
    let trail: AuditTrail

    /// Events per page: 100 unless asked, at most 1000.
    static let pageLimit = PageLimit(standard: 100, maximum: 1000)

    /// One page of the trail.
    struct PageAnswer: ResponseEncodable {
        let page: AuditTrail.Page

        enum CodingKeys: String, CodingKey {
            case events
            case nextCursor = "next_cursor"
        }

        struct EventAnswer: Encodable {
            let entry: AuditTrail.Entry

            enum CodingKeys: String, CodingKey {
                case action, subject, offset
                case eventID = "event_id"
                case occurredAt = "occurred_at"
                case actorKeyID = "actor_key_id"
                case actorKeyName = "actor_key_name"
                case requestID = "request_id"
            }

            /// Every field always there, `null` when unknown.
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                let event = entry.event
                try container.encode(event.eventID.uuidString.lowercased(), forKey: .eventID)
                try container.encode(event.occurredAt, forKey: .occurredAt)
                try container.encode(event.action.rawValue, forKey: .action)
                try container.encode(event.subject, forKey: .subject)
                try container.encode(event.actorKeyID, forKey: .actorKeyID)
                try container.encode(event.actorKeyName, forKey: .actorKeyName)
                try container.encode(event.requestID, forKey: .requestID)
                try container.encode(entry.offset, forKey: .offset)
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(page.entries.map(EventAnswer.init), forKey: .events)
            try container.encode(String(page.nextCursor), forKey: .nextCursor)
        }
    }

    /// The route, for the `/api` group.
    var routes: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self).get("audit") { request, _ in
            let query = request.uri.queryParameters
            let since = try query.get("since").map { text in
                guard let instant = try? RFC3339.parse(text) else {
                    throw APIError(
                        .badRequest, "invalid_since", "'since' must be an RFC 3339 time, like 2026-12-01T00:00:00Z",
                        field: "since")
                }
                return instant
            }
            let cursor = try query.get("cursor").map { text in
                guard text.utf8.count <= 19, let offset = Int64(text), offset >= 0 else {
                    throw APIError(
                        .badRequest, "invalid_cursor", "'cursor' is not a cursor this API returned", field: "cursor")
                }
                return offset
            }
            let limit = try Self.pageLimit.parse(query.get("limit"))
            do {
                return PageAnswer(
                    page: try await trail.page(since: since, cursor: cursor, limit: limit))
            } catch is Bulkhead.Full {
                var busy = APIError(.tooManyRequests, "busy", "other audit reads are running; try again in a moment")
                busy.headers[.retryAfter] = "1"
                throw busy
            } catch let error as KafkaError {
                throw APIError.unavailable("the audit trail cannot be read now (\(error.message)); try again")
            }
        }
    }
}
