import Foundation
import NIOConcurrencyHelpers
import NIOCore
import SharedLinks
import SharedService

/// Links in memory, with the rules of ``PostgresLinkRepository`` (codes unique per domain for good, deleted
/// links kept, revisions, idempotency keys, import keys) but no events and no clicks: what the
/// tests of the HTTP layer run the routes over, with no database.
final class InMemoryLinkRepository: LinkRepository {
    private struct Stored {
        var link: NewLink
        var address: LinkAddress
        var createdAt: Date
        var revision: Int64 = 1
        var deleted = false
        var importKey: String?
    }

    private struct State {
        /// By ``LinkAddress/key``.
        var links: [String: Stored] = [:]
        var createdKeys: [IdempotencyKey.ID: (requestHash: [UInt8], address: LinkAddress)] = [:]
        var batchAnswers: [IdempotencyKey.ID: (requestHash: [UInt8], answer: ByteBuffer)] = [:]
        var lastCreation = Date(timeIntervalSince1970: 0)
    }

    private let state = NIOLockedValueBox(State())

    init() {}

    func create(_ link: NewLink, idempotency: IdempotencyKey?) async throws -> LinkCreation {
        try state.withLockedValue { state in
            if let idempotency, let earlier = state.createdKeys[idempotency.id] {
                guard earlier.requestHash == idempotency.requestHash else { throw APIError.idempotencyKeyReused }
                return LinkCreation(address: earlier.address, replayed: true)
            }
            switch Self.insert(LinkBatchItem(link: link), into: &state) {
            case .created(let address), .alreadyImported(let address):
                if let idempotency { state.createdKeys[idempotency.id] = (idempotency.requestHash, address) }
                return LinkCreation(address: address, replayed: false)
            case .aliasTaken: throw APIError.aliasTaken(link.alias ?? "")
            case .noFreeCode: throw APIError.noFreeCode
            }
        }
    }

    func link(_ address: LinkAddress) async throws -> Link? {
        state.withLockedValue { state in state.links[address.key].map { Self.link($0, now: Date()) } }
    }

    func liveLink(to url: String, on domain: String?) async throws -> Link? {
        let now = Date()
        return state.withLockedValue { state in
            state.links.values.filter { $0.link.url == url && $0.address.domain == domain }
                .sorted { $0.createdAt > $1.createdAt }.lazy.map { Self.link($0, now: now) }
                .first { $0.status == .active }
        }
    }

    func creationTime(of address: LinkAddress) async throws -> Date? {
        state.withLockedValue { $0.links[address.key]?.createdAt }
    }

    func list(limit: Int, after cursor: LinkCursor?, filter: LinkFilter) async throws -> [Link] {
        let now = Date()
        return state.withLockedValue { state in
            state.links.values
                .filter { stored in
                    cursor.map { (stored.createdAt, stored.address.key) < ($0.createdAt, $0.key) } ?? true
                        && filter.domain.map { $0 == stored.address.storedDomain } ?? true
                        && filter.tag.map(stored.link.tags.contains) ?? true
                        && filter.search.map { text in
                            [stored.address.code, stored.link.url, stored.link.title ?? "", stored.link.notes ?? ""]
                                .contains { $0.localizedCaseInsensitiveContains(text) }
                        } ?? true
                }
                .sorted { ($0.createdAt, $0.address.key) > ($1.createdAt, $1.address.key) }
                .lazy.map { Self.link($0, now: now) }.filter(filter.visibility.shows)
                .prefix(limit).map { $0 }
        }
    }

    func delete(_ address: LinkAddress) async throws -> LinkDeletion {
        state.withLockedValue { state in
            guard let stored = state.links[address.key] else { return .notFound }
            guard !stored.deleted else { return .alreadyDeleted }
            state.links[address.key]?.deleted = true
            state.links[address.key]?.revision += 1
            return .deleted
        }
    }

    func update(_ address: LinkAddress, with change: LinkChange, expectedRevision: Int64?) async throws
        -> LinkEditOutcome
    {
        state.withLockedValue { state in
            guard var stored = state.links[address.key] else { return .notFound }
            guard !stored.deleted else { return .deleted }
            if let expectedRevision, expectedRevision != stored.revision {
                return .revisionMismatch(current: stored.revision)
            }
            var address = address
            if let domain = change.domain, domain != address.storedDomain {
                // A move: the old address keeps a deleted link, so its code is never reissued.
                let destination = LinkAddress(domain: domain, code: address.code)
                guard state.links[destination.key] == nil else { return .addressTaken(destination) }
                var tombstone = stored
                tombstone.deleted = true
                tombstone.revision += 1
                state.links[address.key] = tombstone
                stored.address = destination
                address = destination
            }
            let link = stored.link
            stored.link = NewLink(
                url: change.url ?? link.url, alias: link.alias, domain: address.domain,
                expiresAt: change.expiresAt == .keep ? link.expiresAt : change.expiresAt.newValue,
                maxClicks: change.maxClicks == .keep ? link.maxClicks : change.maxClicks.newValue,
                tags: change.tags ?? link.tags, redirect: change.applied(to: link.redirect),
                title: change.title == .keep ? link.title : change.title.newValue,
                notes: change.notes == .keep ? link.notes : change.notes.newValue,
                utm: change.utm == .keep ? link.utm : change.utm.newValue, routing: change.applied(to: link.routing),
                passwordHash: change.passwordHash == .keep ? link.passwordHash : change.passwordHash.newValue)
            stored.revision += 1
            state.links[address.key] = stored
            return .edited(Self.link(stored, now: Date()))
        }
    }

    func createMany(_ items: [LinkBatchItem]) async throws -> [LinkBatchOutcome] {
        state.withLockedValue { state in items.map { Self.insert($0, into: &state) } }
    }

    func createMany(_ items: [LinkBatchItem], idempotency: BatchIdempotency) async throws -> BatchAnswer {
        try state.withLockedValue { state in
            let key = idempotency.key
            if let earlier = state.batchAnswers[key.id] {
                guard earlier.requestHash == key.requestHash else { throw APIError.idempotencyKeyReused }
                return .replayed(earlier.answer)
            }
            // All or nothing, as in one transaction: the answer is rendered before anything is kept.
            var next = state
            let outcomes = items.map { Self.insert($0, into: &next) }
            let answer = try idempotency.answer(outcomes)
            next.batchAnswers[key.id] = (key.requestHash, answer)
            state = next
            return .fresh(answer, outcomes: outcomes)
        }
    }

    /// Inserts one item: its alias or a fresh code, unless its import key was imported before.
    private static func insert(_ item: LinkBatchItem, into state: inout State) -> LinkBatchOutcome {
        if let key = item.importKey, let earlier = state.links.values.first(where: { $0.importKey == key }) {
            return .alreadyImported(earlier.address)
        }
        let address: LinkAddress
        if let alias = item.link.alias {
            address = LinkAddress(domain: item.link.domain, code: alias)
            guard state.links[address.key] == nil else { return .aliasTaken }
        } else {
            guard
                let fresh = (0..<LinkCreation.maximumCodeAttempts).lazy
                    .map({ _ in LinkAddress(domain: item.link.domain, code: ShortCode.random()) })
                    .first(where: { state.links[$0.key] == nil })
            else { return .noFreeCode }
            address = fresh
        }
        // Whole microseconds, as Postgres keeps them (and a cursor carries them), strictly
        // increasing, as the statement makes them within a batch.
        let micros = max(
            (Date().timeIntervalSince1970 * 1_000_000).rounded(),
            (state.lastCreation.timeIntervalSince1970 * 1_000_000).rounded() + 1)
        let createdAt = Date(timeIntervalSince1970: micros / 1_000_000)
        state.lastCreation = createdAt
        state.links[address.key] = Stored(
            link: item.link, address: address, createdAt: createdAt, importKey: item.importKey)
        return .created(address)
    }

    private static func link(_ stored: Stored, now: Date) -> Link {
        Link(
            address: stored.address, url: stored.link.url, createdAt: stored.createdAt,
            expiresAt: stored.link.expiresAt,
            maxClicks: stored.link.maxClicks, tags: stored.link.tags, redirect: stored.link.redirect,
            title: stored.link.title, notes: stored.link.notes, utm: stored.link.utm, routing: stored.link.routing,
            passwordProtected: stored.link.passwordHash != nil,
            createdBy: stored.link.origin.actor,
            revision: stored.revision,
            clicks: 0,
            status: Link.status(
                deleted: stored.deleted, exhausted: false, clicks: 0, maxClicks: stored.link.maxClicks,
                expiresAt: stored.link.expiresAt, now: now))
    }
}
