import SharedJSON
import SharedLinks

/// Our CSV of links: what `master links export` and `GET /api/links.csv` write, and what
/// `master links import` reads back, keeping every code on its domain.
enum LinkCSV {
    /// The columns that make a link, in order; import reads these (and `title`, `clicks`).
    /// Tags are separated by spaces; the domain is empty for the default one.
    static let linkColumns = ["url", "alias", "expires_at", "max_clicks", "tags", "domain"]

    /// An export's columns: the link's (its `alias` is its code), its title, what the export
    /// reports besides, and its rules and split as one JSON object (empty for none), which
    /// import reads back.
    static let exportColumns = linkColumns + ["title", "code", "created_at", "clicks", "status", "routing"]

    /// `link`'s export record, in ``exportColumns`` order.
    static func exportRecord(_ link: Link) -> [String] {
        [
            link.url, link.code, link.expiresAt.map { RFC3339.format($0) } ?? "",
            link.maxClicks.map(String.init) ?? "", link.tags.joined(separator: " "), link.address.storedDomain,
            link.title ?? "", link.code, RFC3339.format(link.createdAt), String(link.clicks), link.status.rawValue,
            link.routing.isEmpty ? "" : String(decoding: link.routing.json, as: UTF8.self),
        ]
    }
}
