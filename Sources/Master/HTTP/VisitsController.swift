import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SharedEvents
import SharedJSON
import SharedKafka
import SharedResilience
import SharedService

/// The visits of `<ns>-visits`, behind the `/api` group's key check (``AccessRight/readStats``):
/// `GET /api/links/<code>/visits?domain=&from=&to=&limit=&cursor=` (newest first, a page at a
/// time), `GET /api/links/<code>/visits/live?domain=` (new visits as Server-Sent Events) and
/// `GET /api/visits/orphans?from=&to=&limit=&cursor=` (visits that found no link; keys limited
/// to some links may not read them).
struct VisitsController: Sendable {
    let log: VisitLog
    let live: LiveVisits
    let repository: any LinkRepository
    let domains: ShortDomains

    /// Visits per page: 100 unless asked, at most 1000.
    static let pageLimit = PageLimit(standard: 100, maximum: 1000)

    /// One visit as the API shows it: every field always there, `null` when it does not apply.
    struct VisitAnswer: Encodable {
        let event: VisitEvent

        enum CodingKeys: String, CodingKey {
            case domain, code, outcome, rule, variant, country, device, browser, os, referrer, bot
            case eventID = "event_id"
            case occurredAt = "occurred_at"
            case replicaID = "replica_id"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(event.eventID.uuidString.lowercased(), forKey: .eventID)
            try container.encode(event.occurredAt, forKey: .occurredAt)
            try container.encode(event.domain, forKey: .domain)
            try container.encode(event.code, forKey: .code)
            try container.encode(event.outcome, forKey: .outcome)
            try container.encode(event.rule, forKey: .rule)
            try container.encode(event.variant, forKey: .variant)
            try container.encode(event.country, forKey: .country)
            try container.encode(event.device, forKey: .device)
            try container.encode(event.browser, forKey: .browser)
            try container.encode(event.os, forKey: .os)
            try container.encode(event.referrer, forKey: .referrer)
            try container.encode(event.bot, forKey: .bot)
            try container.encode(event.replicaID, forKey: .replicaID)
        }
    }

    /// One page of visits.
    struct PageAnswer: ResponseEncodable {
        let visits: [VisitAnswer]
        /// Where the next page starts; `null` when the range holds no more.
        let nextCursor: String?

        enum CodingKeys: String, CodingKey {
            case visits
            case nextCursor = "next_cursor"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(visits, forKey: .visits)
            try container.encode(nextCursor, forKey: .nextCursor)
        }
    }

    /// The routes, for the `/api` group.
    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("links/:code/visits") { request, context in
            let address = try context.linkAddress(request, domains: domains)
            guard try await repository.creationTime(of: address) != nil else { throw APIError.unknownCode }
            return try await page(of: address.key, request)
        }
        routes.get("links/:code/visits/live") { request, context in
            let address = try context.linkAddress(request, domains: domains)
            guard try await repository.creationTime(of: address) != nil else { throw APIError.unknownCode }
            return try await stream(of: address.key, context)
        }
        routes.get("visits/orphans") { request, _ in
            guard AccessScope.current.visibility.isUnrestricted else {
                throw APIError(
                    .forbidden, "forbidden",
                    "orphan visits belong to no link; this API key may not read them (\(AccessScope.current.limits))")
            }
            return try await page(of: VisitEvent.orphanKey, request)
        }
        return routes
    }

    /// A page of `key`'s visits as the query asks.
    private func page(of key: String, _ request: Request) async throws -> PageAnswer {
        let query = request.uri.queryParameters
        let from = try query.get("from").map { try TimeParameter.parse($0, name: "from") }
        let to = try query.get("to").map { try TimeParameter.parse($0, name: "to") }
        if let from, let to, from > to { throw APIError(.badRequest, "invalid_window", "'from' is after 'to'") }
        let cursor = try query.get("cursor").map { text in
            guard let cursor = VisitLog.Cursor(text) else {
                throw APIError(
                    .badRequest, "invalid_cursor", "'cursor' is not a cursor this API returned", field: "cursor")
            }
            return cursor
        }
        let limit = try Self.pageLimit.parse(query.get("limit"))
        do {
            let page = try await log.page(key: key, from: from, to: to, cursor: cursor, limit: limit)
            return PageAnswer(
                visits: page.entries.map { VisitAnswer(event: $0.event) }, nextCursor: page.nextCursor?.description)
        } catch is Bulkhead.Full {
            var busy = APIError(.tooManyRequests, "busy", "other visit reads are running; try again in a moment")
            busy.headers[.retryAfter] = "1"
            throw busy
        } catch is VisitLog.StaleCursor {
            throw APIError(
                .badRequest, "invalid_cursor", "the visits topic changed its partitions; start again without 'cursor'",
                field: "cursor")
        } catch let error as KafkaError {
            throw APIError.unavailable("the visits cannot be read now (\(error.message)); try again")
        }
    }

    /// A stream refused for the number open: `too_many_streams`, to be tried again in 10 s.
    private static func tooManyStreams(_ status: HTTPResponse.Status, _ message: String) -> APIError {
        var refusal = APIError(status, "too_many_streams", message)
        refusal.headers[.retryAfter] = "10"
        return refusal
    }

    /// `key`'s new visits as Server-Sent Events: `event: ready` once the stream follows the
    /// topic, then one `event: visit` per visit (its `id` is where it is in the topic, its
    /// `data` a ``VisitAnswer``), and a comment every ``LiveVisits/heartbeat``. A client that
    /// falls behind by more than ``LiveVisits/bufferSize`` visits is disconnected.
    private func stream(of key: String, _ context: AppRequestContext) async throws -> Response {
        let subscription: LiveVisits.Stream
        do {
            subscription = try await live.subscribe(
                key: key, owner: ChangeOrigin.current.actor?.id, drop: context.closeConnection)
        } catch is LiveVisits.OwnerFull {
            throw Self.tooManyStreams(
                .tooManyRequests,
                "this API key holds \(live.maximumStreamsPerOwner) live streams, the most one key may; close one first")
        } catch is LiveVisits.Full {
            throw Self.tooManyStreams(
                .serviceUnavailable,
                "\(live.maximumStreams) live streams are open, the most this master holds; try again later")
        } catch let error as KafkaError {
            throw APIError.unavailable("the visits cannot be followed now (\(error.message)); try again")
        }
        let live = self.live
        context.whenConnectionCloses { live.unsubscribe(subscription.id) }
        let body = ResponseBody { writer in
            defer { live.unsubscribe(subscription.id) }
            try await writer.write(ByteBuffer(string: "retry: 2000\nevent: ready\ndata: {}\n\n"))
            for await item in subscription.items {
                switch item {
                case .visit(let entry):
                    let json = try JSONEncoder.project.encode(VisitAnswer(event: entry.event))
                    var buffer = ByteBuffer(string: "event: visit\nid: \(entry.partition).\(entry.offset)\ndata: ")
                    buffer.writeBytes(json)
                    buffer.writeString("\n\n")
                    try await writer.write(buffer)
                case .heartbeat:
                    try await writer.write(ByteBuffer(string: ": still here\n\n"))
                }
            }
            // The stream ended: the client fell behind (its connection is closed), or the master stops.
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store",
                HTTPField.Name("X-Accel-Buffering")!: "no",
            ], body: body)
    }
}
