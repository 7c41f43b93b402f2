import Foundation
import NIOCore
import SharedLinks
import SharedService

/// Creates one link: the group commit in the master, the repository itself elsewhere.
protocol LinkCreator: Sendable {
    /// Creates `link` (and remembers `idempotency`). Throws `APIError` 409 when its alias is
    /// taken, 422 when the idempotency key was used for a different request.
    func create(_ link: NewLink, idempotency: IdempotencyKey?) async throws -> LinkCreation
}

/// Where the master keeps its links: every change is stored with its event, and every read
/// returns ``Link``s. ``PostgresLinkRepository`` in production, ``InMemoryLinkRepository`` for
/// tests of the HTTP layer.
protocol LinkRepository: LinkCreator {
    /// The link with its click total, or `nil`.
    func link(_ address: LinkAddress) async throws -> Link?
    /// The newest live link (not deleted, used up or expired) to `url` on `domain` (nil: the
    /// default domain), for a create that asks to reuse one.
    func liveLink(to url: String, on domain: String?) async throws -> Link?
    /// When the link was created, or `nil` if there is no such link (deleted ones included).
    func creationTime(of address: LinkAddress) async throws -> Date?
    /// Up to `limit` links, newest first, starting after `cursor`, only those on `domain`
    /// (the empty text: the default domain), tagged `tag` and whose code or target contains
    /// `search` (ignoring case) when given.
    func list(limit: Int, after cursor: LinkCursor?, filter: LinkFilter) async throws -> [Link]
    /// Marks the link deleted (its code is never issued again on its domain) and announces it.
    func delete(_ address: LinkAddress) async throws -> LinkDeletion
    /// Applies `change` to a live link, raising its revision by one, and announces it; with
    /// `expectedRevision`, only when the link is still at that revision.
    func update(_ address: LinkAddress, with change: LinkChange, expectedRevision: Int64?) async throws
        -> LinkEditOutcome
    /// Creates `items` together; each gets its own outcome, in the items' order.
    func createMany(_ items: [LinkBatchItem]) async throws -> [LinkBatchOutcome]
    /// ``createMany(_:)`` for a request with an `Idempotency-Key`: the answer is kept with the
    /// links, so a retry gets exactly it back and creates nothing twice.
    func createMany(_ items: [LinkBatchItem], idempotency: BatchIdempotency) async throws -> BatchAnswer
}

/// Which links a listing returns; `nil` fields do not filter.
struct LinkFilter: Sendable, Equatable {
    /// Only the links of this domain (`""`: the default domain).
    var domain: String?
    /// Only the links carrying this tag.
    var tag: String?
    /// Only the links whose code or target contains this text, ignoring case.
    var search: String?
    /// Only the links the caller's API key may see.
    var visibility = LinkVisibility()
}

/// The links an API key may see, as a store filters them: the ones it created (a `creator`),
/// those carrying one of its tags, those on its domains. An empty field limits nothing.
struct LinkVisibility: Sendable, Equatable {
    /// Only the links this key (its id) created.
    var createdBy: String?
    /// Only the links carrying at least one of these tags.
    var anyOfTags: [String] = []
    /// Only the links on these domains (stored names, `""` the default one).
    var domains: [String] = []

    /// Whether it shows every link.
    var isUnrestricted: Bool { createdBy == nil && anyOfTags.isEmpty && domains.isEmpty }

    /// Whether `link` is one of those it shows.
    func shows(_ link: Link) -> Bool {
        (createdBy == nil || link.createdBy?.id == createdBy)
            && (anyOfTags.isEmpty || link.tags.contains(where: anyOfTags.contains))
            && (domains.isEmpty || domains.contains(link.address.storedDomain))
    }
}

/// A create's `Idempotency-Key`: unique within `scope` (the API key's id, or empty).
struct IdempotencyKey: Sendable, Equatable {
    let scope: String
    let key: String
    /// SHA-256 of the request body: a retry must send the same request.
    let requestHash: [UInt8]

    /// The key's identity, without the request it was used for.
    struct ID: Hashable, Sendable {
        let scope: String
        let key: String
    }

    var id: ID { ID(scope: scope, key: key) }
}

/// What a create did.
struct LinkCreation: Sendable, Equatable {
    /// The link's domain and code.
    let address: LinkAddress
    /// True when an earlier create with the same `Idempotency-Key` made the link.
    let replayed: Bool

    /// How many generated codes a create tries before giving up (a collision is already rare).
    static let maximumCodeAttempts = 5
}

/// What deleting a code did.
enum LinkDeletion: Sendable, Equatable {
    case deleted
    case alreadyDeleted
    case notFound
}

/// What an edit did.
enum LinkEditOutcome: Sendable, Equatable {
    /// The link as it is now.
    case edited(Link)
    case notFound
    case deleted
    /// `If-Match` named another revision: the link moved on since the caller read it.
    case revisionMismatch(current: Int64)
    /// The domain it was to move to has a link (live or deleted) with its code.
    case addressTaken(LinkAddress)
}

/// One link of a batch: what to create, and for imports the key of its row.
struct LinkBatchItem: Sendable {
    let link: NewLink
    /// A hash of the imported row: a row imported before is found by it, not created again.
    var importKey: String?
    /// A grouped create's `Idempotency-Key`, kept with its link in the same statement.
    var idempotency: IdempotencyKey?
}

/// What became of one item of a batch.
enum LinkBatchOutcome: Sendable, Equatable {
    case created(LinkAddress)
    /// The row was imported before (by its import key), as this link.
    case alreadyImported(LinkAddress)
    /// Its alias is taken.
    case aliasTaken
    /// No free generated code after a few tries.
    case noFreeCode
}

/// A batch's `Idempotency-Key`, and the answer to keep with it.
struct BatchIdempotency: Sendable {
    let key: IdempotencyKey
    /// Renders the answer from the outcomes, to be kept and given to retries.
    let answer: @Sendable ([LinkBatchOutcome]) throws -> ByteBuffer
}

/// What a batch with an `Idempotency-Key` did.
enum BatchAnswer: Sendable {
    /// The answer rendered from this request's outcomes, and the outcomes.
    case fresh(ByteBuffer, outcomes: [LinkBatchOutcome])
    /// The answer an earlier request with the same key got.
    case replayed(ByteBuffer)
}

/// The refusals of a create, as the API answers them.
extension APIError {
    /// `409`: the alias belongs to another link (a deleted one too: codes are never reissued).
    static func aliasTaken(_ alias: String) -> APIError {
        APIError(.conflict, "alias_taken", "the alias '\(alias)' is already taken", field: "alias")
    }

    /// `422`: the `Idempotency-Key` was used for a different request.
    static let idempotencyKeyReused = APIError(
        .unprocessableContent, "idempotency_key_reused", "this Idempotency-Key was used for a different request")

    /// `503`: every generated code tried was taken.
    static let noFreeCode = APIError(
        .serviceUnavailable, "code_space_exhausted", "could not find a free code; try again")
}
