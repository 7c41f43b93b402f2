import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import SharedService
import SharedJSON
import SharedLinks

/// `POST /api/links/bulk`: up to 1,000 links in one request, each with its own outcome in the
/// request's order; one bad item never fails the others. The rate limit counts items, and an
/// `Idempotency-Key` covers the whole request.
struct BulkCreateController: Sendable {
    let repository: any LinkRepository
    let admission: CreateAdmission
    /// Fetches the titles of new links created without one; nil when that is off.
    let titles: TitleFetcher?
    /// Base of the returned `short_url`s.
    let domains: ShortDomains

    /// Most links per request.
    static let maximumItems = 1000
    /// Largest body accepted: 1,000 items of the largest size create accepts.
    static let maximumBodySize = 4 * 1024 * 1024

    /// The request: `{"links": [ … ]}`, each item as `POST /create` takes it.
    struct Body: Decodable {
        let links: [Item]

        private enum CodingKeys: String, CodingKey, CaseIterable {
            case links
        }

        init(from decoder: any Decoder) throws {
            try KnownFields.check(decoder, against: CodingKeys.self, subject: "a bulk request")
            links = try decoder.container(keyedBy: CodingKeys.self).decode([Item].self, forKey: .links)
        }
    }

    /// One item of the request: a create's body, or why it is not one (a field of the wrong
    /// type fails its item only, not the request).
    struct Item: Decodable {
        let request: Result<LinkRequest, APIError>

        init(from decoder: any Decoder) throws {
            do {
                request = .success(try LinkRequest(from: decoder))
            } catch let error as APIError {
                request = .failure(error)
            } catch {
                request = .failure(
                    APIError(.badRequest, "invalid_json", "the item must be an object with a string 'url'"))
            }
        }
    }

    /// An item's error, as every error of the API is written.
    struct ItemError: Encodable {
        let code: String
        let message: String
        /// The item's field at fault, if one is.
        let field: String?
    }

    /// One item's outcome: `201`-like with the link, or its error.
    struct ItemResult: Encodable {
        let status: Int
        let code: String?
        /// The host name of the link's domain.
        let domain: String?
        let shortURL: String?
        let url: String?
        let error: ItemError?

        enum CodingKeys: String, CodingKey {
            case status, code, domain, url, error
            case shortURL = "short_url"
        }

        static func created(_ address: LinkAddress, url: String, domains: ShortDomains) -> ItemResult {
            ItemResult(
                status: 201, code: address.code, domain: domains.host(of: address.domain),
                shortURL: domains.shortURL(address), url: url, error: nil)
        }

        static func failed(_ error: APIError) -> ItemResult {
            ItemResult(
                status: error.status.code, code: nil, domain: nil, shortURL: nil, url: nil,
                error: ItemError(code: error.code, message: error.message, field: error.field))
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(status, forKey: .status)
            try container.encodeIfPresent(code, forKey: .code)
            try container.encodeIfPresent(domain, forKey: .domain)
            try container.encodeIfPresent(shortURL, forKey: .shortURL)
            try container.encodeIfPresent(url, forKey: .url)
            try container.encodeIfPresent(error, forKey: .error)
        }
    }

    /// The answer: every item's result, in order.
    struct Answer: Encodable {
        let results: [ItemResult]
    }

    /// The route, for the `/api` group.
    var routes: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self).post("links/bulk") { request, context in
            try await create(request, context: context)
        }
    }

    func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        // Up to 4 MiB are read and decoded below: a caller refused anyway is refused first.
        try await admission.precheck(request, context: context)
        let (body, bytes) = try await JSONRequestBody.decode(
            Body.self, from: request, limit: Self.maximumBodySize,
            expected: "a JSON object like {\"links\": [{\"url\": \"https://…\"}, …]}")
        guard (1...Self.maximumItems).contains(body.links.count) else {
            throw APIError(
                .badRequest, "invalid_links", "'links' must have 1 to \(Self.maximumItems) items")
        }
        let caller = try await admission.admit(request, context: context, links: body.links.count)
        let idempotency = try CreateAdmission.idempotencyKey(request, body: bytes, caller: caller)

        // Items are checked one by one; an alias asked for twice on one domain in one request
        // goes to the first.
        var results = [ItemResult?](repeating: nil, count: body.links.count)
        var items: [(index: Int, item: LinkBatchItem)] = []
        var aliases = Set<LinkAddress>()
        for (index, item) in body.links.enumerated() {
            do {
                let request = try item.request.get()
                guard request.reuse == nil else {
                    throw APIError(.badRequest, "invalid_reuse", "'reuse' is for POST /create only", field: "reuse")
                }
                // Hashing is slow by design: passwords are set one link at a time.
                guard request.password == nil else {
                    throw APIError(
                        .badRequest, "invalid_password",
                        "'password' is set on POST /create or an edit, one link at a time",
                        field: "password")
                }
                var link = try request.validated()
                link.domain = try await domains.domainToCreateOn(request.domain)
                if let alias = link.alias, !aliases.insert(LinkAddress(domain: link.domain, code: alias)).inserted {
                    throw APIError.aliasTaken(alias)
                }
                items.append((index, LinkBatchItem(link: link)))
            } catch let error as APIError {
                results[index] = .failed(error)
            }
        }
        let render: @Sendable ([LinkBatchOutcome]) throws -> ByteBuffer = {
            [results, items, domains] outcomes in
            var results = results
            for ((index, item), outcome) in zip(items, outcomes) {
                results[index] =
                    switch outcome {
                    case .created(let address), .alreadyImported(let address):
                        .created(address, url: item.link.url, domains: domains)
                    case .aliasTaken: .failed(.aliasTaken(item.link.alias ?? ""))
                    case .noFreeCode: .failed(.noFreeCode)
                    }
            }
            return ByteBuffer(bytes: try JSONEncoder.project.encode(Answer(results: results.map { $0! })))
        }
        let answer: ByteBuffer
        var outcomes: [LinkBatchOutcome] = []
        var replayed = false
        if let idempotency {
            switch try await repository.createMany(
                items.map(\.item), idempotency: .init(key: idempotency, answer: render))
            {
            case .fresh(let fresh, let freshOutcomes):
                answer = fresh
                outcomes = freshOutcomes
            case .replayed(let earlier):
                answer = earlier
                replayed = true
            }
        } else {
            outcomes = try await repository.createMany(items.map(\.item))
            answer = try render(outcomes)
        }
        for ((_, item), outcome) in zip(items, outcomes) {
            if case .created(let address) = outcome, item.link.title == nil { titles?.enqueue(address) }
        }
        context.logger.info(
            "Created links in bulk",
            metadata: ["links.items": "\(body.links.count)", "idempotent.replayed": "\(replayed)"])
        var headers: HTTPFields = [.contentType: "application/json"]
        if replayed { headers[.idempotentReplayed] = "true" }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: answer))
    }
}
