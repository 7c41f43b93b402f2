import Foundation
import SharedLinks
import SharedService

/// A ``LinkRepository`` (and the create writer beside it) seen through the request's
/// ``AccessScope``: lists hold only the links the key may see, a link outside them answers
/// `403` (never its data, never `404` for a link that exists), and what the key creates
/// records it and carries its tags. The one place where a key's limits meet the links, so
/// no controller applies them on its own.
struct ScopedLinkRepository: LinkRepository {
    let base: any LinkRepository
    /// Writes single creates (the group commit in the master).
    let writer: any LinkCreator

    private var scope: AccessScope { AccessScope.current }

    func create(_ link: NewLink, idempotency: IdempotencyKey?) async throws -> LinkCreation {
        try await writer.create(scope.stamped(link), idempotency: idempotency)
    }

    func link(_ address: LinkAddress) async throws -> Link? {
        let scope = self.scope
        guard let link = try await base.link(address) else { return nil }
        guard scope.visibility.shows(link) else { throw scope.refusal }
        return link
    }

    func liveLink(to url: String, on domain: String?) async throws -> Link? {
        try await base.liveLink(to: url, on: domain).flatMap { scope.visibility.shows($0) ? $0 : nil }
    }

    func creationTime(of address: LinkAddress) async throws -> Date? {
        guard !scope.visibility.isUnrestricted else { return try await base.creationTime(of: address) }
        return try await link(address)?.createdAt
    }

    func list(limit: Int, after cursor: LinkCursor?, filter: LinkFilter) async throws -> [Link] {
        var filter = filter
        filter.visibility = scope.visibility
        return try await base.list(limit: limit, after: cursor, filter: filter)
    }

    func delete(_ address: LinkAddress) async throws -> LinkDeletion {
        try await checkShown(address)
        return try await base.delete(address)
    }

    func update(_ address: LinkAddress, with change: LinkChange, expectedRevision: Int64?) async throws
        -> LinkEditOutcome
    {
        try scope.check(change)
        try await checkShown(address)
        return try await base.update(address, with: change, expectedRevision: expectedRevision)
    }

    func createMany(_ items: [LinkBatchItem]) async throws -> [LinkBatchOutcome] {
        try await base.createMany(stamped(items))
    }

    func createMany(_ items: [LinkBatchItem], idempotency: BatchIdempotency) async throws -> BatchAnswer {
        try await base.createMany(stamped(items), idempotency: idempotency)
    }

    /// Throws the scope's `403` when the link exists and is outside it.
    private func checkShown(_ address: LinkAddress) async throws {
        guard !scope.visibility.isUnrestricted else { return }
        _ = try await link(address)
    }

    private func stamped(_ items: [LinkBatchItem]) throws(APIError) -> [LinkBatchItem] {
        let scope = self.scope
        return try items.map { item throws(APIError) in
            LinkBatchItem(link: try scope.stamped(item.link), importKey: item.importKey, idempotency: item.idempotency)
        }
    }
}
