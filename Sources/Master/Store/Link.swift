import Foundation
import SharedEvents
import SharedLinks

/// A link as the master keeps it: its target and limits, its revision, the clicks the replicas
/// reported and where it stands. What every read of the repository returns.
struct Link: Sendable, Equatable {
    /// Where a link stands.
    enum Status: String, Codable, Sendable {
        case active, expired, exhausted, deleted
    }

    /// Its domain and code.
    let address: LinkAddress
    let url: String
    let createdAt: Date
    let expiresAt: Date?
    let maxClicks: Int64?
    let tags: [String]
    /// How it redirects.
    let redirect: RedirectOptions
    /// What it is for, for people.
    var title: String? = nil
    /// Notes about it, for people.
    var notes: String? = nil
    /// Its campaign parameters, added to the target at redirect time.
    var utm: UTMParameters? = nil
    /// Its rules and split, decided on the replicas.
    var routing = LinkRouting.none
    /// Whether a visitor must give a password (its hash is never read back).
    var passwordProtected = false
    /// The API key that created it; nil for links made without one.
    var createdBy: LinkAuthor? = nil
    /// Grows with every change; `If-Match` names it.
    let revision: Int64
    /// The sum of the replicas' highest reported totals.
    let clicks: Int64
    let status: Status

    /// Its short code.
    var code: String { address.code }

    /// Where a link with these facts stands at `now`: deleted first, then used up (marked so,
    /// or its clicks reached its limit), then expired.
    static func status(
        deleted: Bool, exhausted: Bool, clicks: Int64, maxClicks: Int64?, expiresAt: Date?, now: Date
    ) -> Status {
        if deleted { return .deleted }
        if exhausted || maxClicks.map({ clicks >= $0 }) == true { return .exhausted }
        if expiresAt.map({ $0 <= now }) == true { return .expired }
        return .active
    }
}

/// A checked request to create a link.
struct NewLink: Sendable, Equatable {
    /// The target URL in its stored form (see `TargetURL`).
    let url: String
    /// The custom code, if one was asked for.
    let alias: String?
    /// The domain to create it on (`nil`: the default domain).
    var domain: String?
    /// When the link expires, if ever.
    let expiresAt: Date?
    /// How many visits it allows, if limited.
    let maxClicks: Int64?
    /// Its tags.
    var tags: [String] = []
    /// How it redirects.
    var redirect = RedirectOptions.standard
    /// What it is for, for people.
    var title: String?
    /// Notes about it, for people.
    var notes: String?
    /// Its campaign parameters.
    var utm: UTMParameters?
    /// Its rules and split.
    var routing = LinkRouting.none
    /// The argon2id hash of the password a visitor must give, if any.
    var passwordHash: String?
    /// Who creates it, in which request: its `created_by` and its audit event.
    var origin = ChangeOrigin()
}

/// The API key that created a link: its id and its name at the time, never its secret.
struct LinkAuthor: Sendable, Equatable {
    let id: String
    let name: String
}

/// Who makes a change and in which request, for the audit trail: the API key (nil for a
/// command, or an API without keys) and the request id (nil outside a request). The access
/// check sets it for each request; the stores write it into every change's audit event.
struct ChangeOrigin: Sendable, Equatable {
    var actor: LinkAuthor?
    var requestID: String?

    /// The origin of the change being made: the request's, or none (commands, background work).
    @TaskLocal static var current = ChangeOrigin()

    /// The audit event of `action` on `subject`, made from here at `time`.
    func audit(_ action: AuditEvent.Action, _ subject: String, at time: Date = Date()) -> AuditEvent {
        AuditEvent(
            action, subject: subject, actorKeyID: actor?.id, actorKeyName: actor?.name, requestID: requestID, at: time)
    }
}

/// What an edit does to one field.
enum FieldChange<Value: Sendable & Equatable>: Sendable, Equatable {
    case keep
    case clear
    case set(Value)

    /// The new value when the field changes (`nil` when it is cleared), or `nil` when it is kept.
    var newValue: Value? {
        if case .set(let value) = self { value } else { nil }
    }
}

/// A checked edit: the new target, expiry, visit limit, tags and redirect options, where they change.
struct LinkChange: Sendable, Equatable {
    var url: String?
    var expiresAt: FieldChange<Date> = .keep
    var maxClicks: FieldChange<Int64> = .keep
    var tags: [String]?
    var redirectStatus: RedirectOptions.Status?
    var forwardQuery: Bool?
    var crawlable: Bool?
    var title: FieldChange<String> = .keep
    var notes: FieldChange<String> = .keep
    var utm: FieldChange<UTMParameters> = .keep
    /// The new rules (`[]`: none).
    var rules: [RedirectRule]?
    /// The link's own split.
    var split: FieldChange<[WeightedTarget]> = .keep
    /// The hash of the new password (`.clear`: none needed any more).
    var passwordHash: FieldChange<String> = .keep
    /// The domain to move the link to, as stored (`""`: the default one); nil keeps it.
    var domain: String?

    /// `routing` with this change's rules and split applied.
    func applied(to routing: LinkRouting) -> LinkRouting {
        LinkRouting(
            rules: rules ?? routing.rules, split: split == .keep ? routing.split : split.newValue)
    }

    /// `redirect` with this change's options applied.
    func applied(to redirect: RedirectOptions) -> RedirectOptions {
        RedirectOptions(
            status: redirectStatus ?? redirect.status, forwardQuery: forwardQuery ?? redirect.forwardQuery,
            crawlable: crawlable ?? redirect.crawlable)
    }
}
