import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SharedService

/// `POST /create`: checks the caller's API key (when keys are configured) and rate limit,
/// validates the request and creates the link; an `Idempotency-Key` makes retries safe.
struct CreateLinkController: Sendable {
    /// Writes the creates, concurrent ones together.
    let writer: CreateGroupCommit
    let admission: CreateAdmission
    /// Base of the returned `short_url`, e.g. `http://localhost:8081`.
    let publicBaseURL: String

    /// Largest request body accepted.
    static let maximumBodySize = 16 * 1024

    /// The `201` body.
    struct Created: ResponseEncodable {
        let code: String
        let shortURL: String
        let url: String

        enum CodingKeys: String, CodingKey {
            case code, url
            case shortURL = "short_url"
        }
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("create") { request, context in
            try await create(request, context: context)
        }
    }

    func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try await admission.admit(request, context: context, links: 1)
        let (linkRequest, body) = try await JSONRequestBody.decode(
            LinkRequest.self, from: request, limit: Self.maximumBodySize,
            expected: "a JSON object like {\"url\": \"https://…\"}")
        let link = try linkRequest.validated()
        let idempotency = try CreateAdmission.idempotencyKey(request, body: body, caller: caller)
        let creation = try await storeCall(context, "Creating a link") {
            try await writer.create(link, idempotency: idempotency)
        }
        if creation.replayed {
            context.logger.info("Answered a repeated create", metadata: ["link.code": "\(creation.code)"])
        } else {
            context.logger.info("Created link", metadata: ["link.code": "\(creation.code)"])
        }
        let created = Created(code: creation.code, shortURL: "\(publicBaseURL)/\(creation.code)", url: link.url)
        var response = try EditedResponse(status: .created, response: created).response(from: request, context: context)
        if creation.replayed { response.headers[.idempotentReplayed] = "true" }
        return response
    }
}
