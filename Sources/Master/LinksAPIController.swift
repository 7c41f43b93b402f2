import Foundation
import Hummingbird
import Shared

/// `GET /api/links/<code>`: a link as the master knows it, with its exact click total.
struct LinksAPIController: Sendable {
    let repository: LinkRepository

    /// The answer for one link.
    struct LinkDetails: ResponseEncodable, Equatable {
        let code: String
        let url: String
        let createdAt: Date
        let clicks: Int64

        enum CodingKeys: String, CodingKey {
            case code, url, clicks
            case createdAt = "created_at"
        }
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("api/links/:code") { _, context in
            let code = try context.parameters.require("code")
            guard ShortCode.isWellFormed(code) else { throw APIError.unknownCode }
            let details: LinkDetails?
            do {
                details = try await repository.details(of: code)
            } catch let open as CircuitOpenError {
                throw APIError.unavailable(open)
            } catch {
                context.logger.error("Reading a link failed", metadata: ["error": "\(String(reflecting: error))"])
                throw APIError.unavailable("the link store is unavailable; try again")
            }
            guard let details else { throw APIError.unknownCode }
            return details
        }
    }
}
