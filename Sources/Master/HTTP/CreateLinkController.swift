import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SharedEvents
import SharedJSON
import SharedService

/// `POST /create`: checks the caller's API key (when keys are configured) and rate limit,
/// validates the request and creates the link; an `Idempotency-Key` makes retries safe, and
/// `"reuse": true` answers `200` with a live link to the same URL on the same domain if there is one.
struct CreateLinkController: Sendable {
    /// Writes the creates: the group commit, which writes concurrent ones together.
    let writer: any LinkCreator
    /// Where a reused link is looked up.
    let repository: any LinkRepository
    let admission: CreateAdmission
    /// Fetches the titles of new links created without one; nil when that is off.
    let titles: TitleFetcher?
    /// The domains links are created on, and their `short_url`s.
    let domains: ShortDomains

    /// Largest request body accepted.
    static let maximumBodySize = 64 * 1024

    /// The `201` body, `{"code":…,"domain":…,"short_url":…,"url":…}`, written by hand:
    /// Foundation's encoder was a twentieth of the HTTP loops' time under creates.
    static func createdBody(code: String, domain: String, shortURL: String, url: String) -> ByteBuffer {
        var json = JSONWriter()
        json.open()
        json.field("code", code)
        json.field("domain", domain)
        json.field("short_url", shortURL)
        json.field("url", url)
        json.close()
        return ByteBuffer(bytes: json.bytes)
    }

    /// The route, at the root.
    var routes: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self).post("create") { request, context in
            try await create(request, context: context)
        }
    }

    func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try await admission.admit(request, context: context, links: 1)
        let (linkRequest, body) = try await JSONRequestBody.decode(
            LinkRequest.self, from: request, limit: Self.maximumBodySize,
            expected: "a JSON object like {\"url\": \"https://…\"}")
        var link = try linkRequest.validated()
        link.domain = try await domains.domainToCreateOn(linkRequest.domain)
        if let password = linkRequest.password {
            guard linkRequest.reuse != true else {
                throw APIError(
                    .badRequest, "invalid_reuse", "'reuse' answers an existing link; it cannot set a 'password'",
                    field: "reuse")
            }
            link.passwordHash = try await LinkPasswords.hash(password)
        }
        if linkRequest.reuse == true {
            guard link.alias == nil else {
                throw APIError(
                    .badRequest, "invalid_reuse", "'reuse' finds a link by its url; it cannot be asked with an 'alias'",
                    field: "reuse")
            }
            if let existing = try await repository.liveLink(to: link.url, on: link.domain) {
                context.logger.info(
                    "Answered a create with an existing link", metadata: ["link.key": "\(existing.address)"])
                let body = Self.createdBody(
                    code: existing.code, domain: domains.host(of: existing.address.domain),
                    shortURL: domains.shortURL(existing.address), url: existing.url)
                return Response(
                    status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                    body: ResponseBody(byteBuffer: body))
            }
        }
        let idempotency = try CreateAdmission.idempotencyKey(request, body: body, caller: caller)
        let creation = try await writer.create(link, idempotency: idempotency)
        let address = creation.address
        if creation.replayed {
            context.logger.info("Answered a repeated create", metadata: ["link.key": "\(address)"])
        } else {
            context.logger.info("Created link", metadata: ["link.key": "\(address)"])
            if link.title == nil { titles?.enqueue(address) }
        }
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if creation.replayed { headers[.idempotentReplayed] = "true" }
        let created = Self.createdBody(
            code: address.code, domain: domains.host(of: address.domain), shortURL: domains.shortURL(address),
            url: link.url)
        return Response(status: .created, headers: headers, body: ResponseBody(byteBuffer: created))
    }
}
