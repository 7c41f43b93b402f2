import Foundation
import SharedLinks
@testable import Master

// Links on the default domain, named by their code alone, as most of these tests name them.

extension LinkCreation {
    /// The created link's code.
    var code: String { address.code }
}

extension LinkRepository {
    /// The default domain's link `code`.
    func link(_ code: String) async throws -> Link? { try await link(LinkAddress(code: code)) }

    /// Deletes the default domain's link `code`.
    func delete(_ code: String) async throws -> LinkDeletion { try await delete(LinkAddress(code: code)) }
}
