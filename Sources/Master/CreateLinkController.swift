import Foundation
import Hummingbird
import Logging
import Shared

/// `POST /create`: validates the request and creates the link.
struct CreateLinkController: Sendable {
    let repository: LinkRepository
    /// Base of the returned `short_url`, e.g. `http://localhost:8081`.
    let publicBaseURL: String

    /// Largest request body accepted.
    static let maximumBodySize = 16 * 1024

    /// Decodes request bodies; shared, since decoding needs no per-request state.
    private static let decoder = JSONDecoder()

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

    func create(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<Created> {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maximumBodySize)
        } catch {
            throw APIError(.contentTooLarge, "body_too_large", "the body is larger than \(Self.maximumBodySize) bytes")
        }
        let linkRequest: LinkRequest
        do {
            linkRequest = try Self.decoder.decode(LinkRequest.self, from: Data(buffer: body))
        } catch {
            throw APIError(.badRequest, "invalid_json", "the body must be a JSON object like {\"url\": \"https://…\"}")
        }
        let link = try linkRequest.validated()
        let code: String
        do {
            code = try await repository.create(link)
        } catch let error as APIError {
            throw error
        } catch let open as CircuitOpenError {
            throw APIError.unavailable(open)
        } catch {
            context.logger.error("Creating a link failed", metadata: ["error": "\(String(reflecting: error))"])
            throw APIError.unavailable("the link store is unavailable; try again")
        }
        context.logger.info("Created link", metadata: ["link.code": "\(code)"])
        return EditedResponse(
            status: .created,
            response: Created(code: code, shortURL: "\(publicBaseURL)/\(code)", url: link.url)
        )
    }
}
