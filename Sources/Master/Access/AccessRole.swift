/// What an API key may do: its role, a fixed set of ``AccessRight``s. Keys made before roles
/// existed are `admin`.
enum AccessRole: String, CaseIterable, Sendable {
    /// Everything, keys and domains included.
    case admin
    /// Creates, edits and deletes links and reads every link and statistic.
    case editor
    /// Creates links and reads those it created, with their statistics; changes none.
    case creator
    /// Reads links and statistics and changes nothing.
    case viewer

    /// Whether its keys see only the links they created.
    var seesOwnLinksOnly: Bool { self == .creator }

    /// The rights the role holds.
    var rights: Set<AccessRight> {
        switch self {
        case .admin: Set(AccessRight.allCases)
        case .editor: [.readSelf, .createLinks, .readLinks, .editLinks, .deleteLinks, .readStats, .readDomains]
        case .creator: [.readSelf, .createLinks, .readLinks, .readStats, .readDomains]
        case .viewer: [.readSelf, .readLinks, .readStats, .readDomains]
        }
    }

    /// The role named `text`, or a message listing the roles.
    static func parse(_ text: String) throws(AccessRoleError) -> AccessRole {
        guard let role = AccessRole(rawValue: text) else { throw AccessRoleError(text: text) }
        return role
    }
}

/// A role name that is none of ``AccessRole``'s.
struct AccessRoleError: Error, CustomStringConvertible {
    let text: String
    var description: String {
        "unknown role '\(text.prefix(40))'; roles are \(AccessRole.allCases.map(\.rawValue).joined(separator: ", "))"
    }
}

/// One thing a request may do; every API route needs exactly one (see ``RoutePermissions``).
/// The raw value is what a `403` names.
enum AccessRight: String, CaseIterable, Sendable {
    /// `GET /api/me`: what the caller's own key may do (every key).
    case readSelf = "me:read"
    /// `POST /create`, bulk creates.
    case createLinks = "links:create"
    /// A link, the list, the CSV export, QR codes.
    case readLinks = "links:read"
    /// `PATCH` of a link.
    case editLinks = "links:edit"
    /// `DELETE` of a link.
    case deleteLinks = "links:delete"
    /// Click statistics of a link or of many.
    case readStats = "stats:read"
    /// The list of short domains.
    case readDomains = "domains:read"
    /// Adding, changing and removing short domains.
    case manageDomains = "domains:manage"
    /// Creating, listing, changing and revoking API keys.
    case manageKeys = "keys:manage"
    /// Reading the audit trail.
    case readAudit = "audit:read"
}
