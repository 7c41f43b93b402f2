import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import SharedEvents
import SharedLinks
import SharedPostgres
import SharedResilience
import SharedService

/// A short domain as the master keeps it. The default domain is the one named `""`.
struct Domain: Sendable, Equatable {
    /// The stored name: a normalised host name, or `""` for the default domain.
    let name: String
    /// Where a request for the domain's root (`/`) redirects; nil: the replica's own 404.
    var rootURL: String?
    /// Where an unknown code redirects; nil: the replica's own 404 page.
    var notFoundURL: String?
    /// Where an expired, deleted or used-up link redirects; nil: the replica's own 410 page.
    var expiredURL: String?
    let createdAt: Date
    /// Grows with every change; domain events carry it.
    let revision: Int64
    /// How many live links the domain holds.
    let links: Int64

    /// Its `domain.updated` event.
    var updatedEvent: DomainEvent {
        .updated(
            name.isEmpty ? nil : name, revision: revision, rootURL: rootURL, notFoundURL: notFoundURL,
            expiredURL: expiredURL)
    }
}

/// The fallback pages of a domain to set: each `.keep` leaves its page unchanged, `.clear` removes it.
struct DomainFallbacks: Sendable, Equatable {
    var rootURL: FieldChange<String> = .keep
    var notFoundURL: FieldChange<String> = .keep
    var expiredURL: FieldChange<String> = .keep
}

/// What removing a domain did.
enum DomainRemoval: Sendable, Equatable {
    /// Removed; `deletedLinks` of its links were deleted with it (`?cascade`).
    case removed(deletedLinks: Int)
    case notFound
    /// Live links use it, and the removal was not asked to delete them.
    case inUse(links: Int64)
}

/// Where the master keeps its domains; every change is written with its event, as links are.
protocol DomainRepository: Sendable {
    /// Every domain in use, the default one (`""`) first.
    func list() async throws -> [Domain]
    /// One domain (`""`: the default one), or nil when there is none by that name.
    func domain(_ name: String) async throws -> Domain?
    /// Adds `name` (or brings a removed one back) with `fallbacks`; nil when it exists already.
    func add(_ name: String, fallbacks: DomainFallbacks) async throws -> Domain?
    /// Changes a domain's fallback pages; nil when there is no such domain.
    func update(_ name: String, fallbacks: DomainFallbacks) async throws -> Domain?
    /// Removes a domain; with `cascade`, deletes its live links first (each announced).
    func remove(_ name: String, cascade: Bool) async throws -> DomainRemoval
}

/// Domains in Postgres. A removed domain keeps its row (`deleted_at`), since its deleted links
/// keep theirs; its codes are never issued again on that name.
struct PostgresDomainRepository: DomainRepository {
    let client: PostgresClient
    let breaker: CircuitBreaker
    let logger: Logger

    private static let columns = """
        d.name, d.root_url, d.not_found_url, d.expired_url, d.created_at, d.revision,
        (SELECT count(*) FROM links l WHERE l.domain = d.name AND l.deleted_at IS NULL)
        """

    private typealias Row = (String, String?, String?, String?, Date, Int64, Int64)

    private static func domain(_ row: Row) -> Domain {
        Domain(
            name: row.0, rootURL: row.1, notFoundURL: row.2, expiredURL: row.3, createdAt: row.4, revision: row.5,
            links: row.6)
    }

    func list() async throws -> [Domain] {
        try await breaker.run { [client, logger] in
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.columns) FROM domains d WHERE d.deleted_at IS NULL
                ORDER BY d.name <> '', d.name
                """, logger: logger)
            var domains: [Domain] = []
            for try await row in rows.decode(Row.self) { domains.append(Self.domain(row)) }
            return domains
        }
    }

    func domain(_ name: String) async throws -> Domain? {
        try await breaker.run { [client, logger] in
            let rows = try await client.query(
                "SELECT \(unescaped: Self.columns) FROM domains d WHERE d.name = \(name) AND d.deleted_at IS NULL",
                logger: logger)
            for try await row in rows.decode(Row.self) { return Self.domain(row) }
            return nil
        }
    }

    func add(_ name: String, fallbacks: DomainFallbacks) async throws -> Domain? {
        try await breaker.run { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                // A new row, or a removed one brought back (at a higher revision, so replicas
                // that saw its removal take it again).
                let rows = try await connection.query(
                    """
                    INSERT INTO domains AS d (name, root_url, not_found_url, expired_url)
                    VALUES (\(name), \(fallbacks.rootURL.newValue), \(fallbacks.notFoundURL.newValue),
                        \(fallbacks.expiredURL.newValue))
                    ON CONFLICT (name) DO UPDATE SET
                        root_url = excluded.root_url, not_found_url = excluded.not_found_url,
                        expired_url = excluded.expired_url, created_at = now(), deleted_at = NULL,
                        revision = d.revision + 1
                    WHERE d.deleted_at IS NOT NULL
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                var added: Domain?
                for try await row in rows.decode(Row.self) { added = Self.domain(row) }
                guard let added else { return nil }
                try await OutboxWriter.append(
                    [OutboxRow(added.updatedEvent), OutboxRow(ChangeOrigin.current.audit(.domainAdded, name))],
                    on: connection, logger: logger)
                return added
            }
        }
    }

    func update(_ name: String, fallbacks: DomainFallbacks) async throws -> Domain? {
        let (root, notFound, expired) = (fallbacks.rootURL, fallbacks.notFoundURL, fallbacks.expiredURL)
        return try await breaker.run { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    UPDATE domains d SET
                        root_url = CASE WHEN \(root != .keep) THEN \(root.newValue) ELSE root_url END,
                        not_found_url = CASE WHEN \(notFound != .keep) THEN \(notFound.newValue) ELSE not_found_url END,
                        expired_url = CASE WHEN \(expired != .keep) THEN \(expired.newValue) ELSE expired_url END,
                        revision = revision + 1
                    WHERE d.name = \(name) AND d.deleted_at IS NULL
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                var updated: Domain?
                for try await row in rows.decode(Row.self) { updated = Self.domain(row) }
                guard let updated else { return nil }
                try await OutboxWriter.append(
                    [OutboxRow(updated.updatedEvent), OutboxRow(ChangeOrigin.current.audit(.domainUpdated, name))],
                    on: connection, logger: logger)
                return updated
            }
        }
    }

    /// Links deleted per transaction by a cascading removal.
    static let cascadeBatch = 1000

    func remove(_ name: String, cascade: Bool) async throws -> DomainRemoval {
        var deletedLinks = 0
        while cascade {
            let deleted = try await deleteLinks(of: name, limit: Self.cascadeBatch)
            deletedLinks += deleted
            if deleted < Self.cascadeBatch { break }
        }
        let outcome = try await breaker.run { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                // The row lock orders the removal with creates on the domain (their foreign key
                // check shares it): a link created meanwhile is counted below.
                let rows = try await connection.query(
                    """
                    SELECT revision, (SELECT count(*) FROM links l WHERE l.domain = d.name AND l.deleted_at IS NULL)
                    FROM domains d WHERE d.name = \(name) AND d.deleted_at IS NULL FOR UPDATE
                    """, logger: logger)
                var found: (revision: Int64, links: Int64)?
                for try await row in rows.decode((Int64, Int64).self) { found = row }
                guard let found else { return DomainRemoval.notFound }
                guard found.links == 0 else { return DomainRemoval.inUse(links: found.links) }
                try await connection.query(
                    """
                    UPDATE domains SET deleted_at = now(), root_url = NULL, not_found_url = NULL, expired_url = NULL,
                        revision = revision + 1
                    WHERE name = \(name)
                    """, logger: logger)
                try await OutboxWriter.append(
                    [
                        OutboxRow(DomainEvent.deleted(name, revision: found.revision + 1)),
                        OutboxRow(ChangeOrigin.current.audit(.domainRemoved, name)),
                    ], on: connection, logger: logger)
                return DomainRemoval.removed(deletedLinks: 0)
            }
        }
        if case .removed = outcome { return .removed(deletedLinks: deletedLinks) }
        return outcome
    }

    /// Deletes up to `limit` live links of `domain`, each with its `link.deleted` event, in one
    /// transaction; how many.
    private func deleteLinks(of domain: String, limit: Int) async throws -> Int {
        try await breaker.run { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    UPDATE links SET deleted_at = now(), revision = revision + 1
                    WHERE link_key IN (
                        SELECT link_key FROM links WHERE domain = \(domain) AND deleted_at IS NULL
                        ORDER BY link_key LIMIT \(limit) FOR UPDATE)
                    RETURNING code, revision
                    """, logger: logger)
                var events: [OutboxRow] = []
                var audits: [OutboxRow] = []
                for try await (code, revision) in rows.decode((String, Int64).self) {
                    let address = LinkAddress(domain: domain, code: code)
                    events.append(OutboxRow(LinkEvent.deleted(address, revision: revision)))
                    audits.append(OutboxRow(ChangeOrigin.current.audit(.linkDeleted, address.key)))
                }
                try await OutboxWriter.append(events + audits, on: connection, logger: logger)
                return events.count
            }
        }
    }
}

/// Domains in memory, for the tests of the HTTP layer: the default one exists from the start.
final class InMemoryDomainRepository: DomainRepository {
    private let domains = NIOLockedValueBox<[String: Domain]>([
        "": Domain(name: "", createdAt: Date(), revision: 1, links: 0)
    ])

    init() {}

    func list() async throws -> [Domain] {
        domains.withLockedValue {
            $0.values.sorted { ($0.name.isEmpty ? 0 : 1, $0.name) < ($1.name.isEmpty ? 0 : 1, $1.name) }
        }
    }

    func domain(_ name: String) async throws -> Domain? { domains.withLockedValue { $0[name] } }

    func add(_ name: String, fallbacks: DomainFallbacks) async throws -> Domain? {
        domains.withLockedValue { domains in
            guard domains[name] == nil else { return nil }
            let domain = Domain(
                name: name, rootURL: fallbacks.rootURL.newValue, notFoundURL: fallbacks.notFoundURL.newValue,
                expiredURL: fallbacks.expiredURL.newValue, createdAt: Date(), revision: 1, links: 0)
            domains[name] = domain
            return domain
        }
    }

    func update(_ name: String, fallbacks: DomainFallbacks) async throws -> Domain? {
        domains.withLockedValue { domains in
            guard let old = domains[name] else { return nil }
            func apply(_ change: FieldChange<String>, _ value: String?) -> String? {
                change == .keep ? value : change.newValue
            }
            let domain = Domain(
                name: name, rootURL: apply(fallbacks.rootURL, old.rootURL),
                notFoundURL: apply(fallbacks.notFoundURL, old.notFoundURL),
                expiredURL: apply(fallbacks.expiredURL, old.expiredURL), createdAt: old.createdAt,
                revision: old.revision + 1, links: old.links)
            domains[name] = domain
            return domain
        }
    }

    func remove(_ name: String, cascade: Bool) async throws -> DomainRemoval {
        domains.withLockedValue { domains in
            domains.removeValue(forKey: name) == nil ? .notFound : .removed(deletedLinks: 0)
        }
    }
}
