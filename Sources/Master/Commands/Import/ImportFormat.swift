import ArgumentParser
import Foundation
import SharedLinks

/// The files `master links import` reads: our own CSV, and the exports of the shorteners people
/// move from. Each is read as our columns (``LinkCSV/linkColumns`` and `title`, `clicks`,
/// `status`), so that the rest of an import is the same for all.
///
/// - `yourls`: the `yourls_url` table as CSV (`keyword,url,title,timestamp,ip,clicks`).
/// - `shlink`: `shlink short-url:list` as CSV (`Short Code,Title,Short URL,Long URL,Date
///   created,Visits count`, with `Tags` and `Domain` when asked for), or the REST API's JSON
///   list (`{"shortUrls":{"data":[{"shortCode","longUrl","title","tags","domain",
///   "visitsSummary":{"total"}}]}}`), which ``rows(fromShlinkJSON:)`` turns into such rows.
/// - `bitly`: Bitly's CSV export (`Title,Long URL,Bitlink,Created,Clicks,Tags`), whose short link
///   (`bit.ly/3xYz`, or a branded domain's) gives the code and the domain.
///
/// Codes are kept, so the old short URLs keep working on the same domain; visit counts are
/// carried over as each link's starting total.
enum ImportFormat: String, CaseIterable, ExpressibleByArgument, Sendable {
    case ours, yourls, shlink, bitly

    /// Our column → the names it has in this format's header, lower-cased.
    private var synonyms: [String: [String]] {
        switch self {
        case .ours:
            Dictionary(uniqueKeysWithValues: (LinkCSV.linkColumns + ["title", "clicks", "status", "routing"]).map { ($0, [$0]) })
        case .yourls:
            ["url": ["url"], "alias": ["keyword"], "title": ["title"], "clicks": ["clicks"]]
        case .shlink:
            [
                "url": ["long url", "longurl"], "alias": ["short code", "shortcode"], "title": ["title"],
                "clicks": ["visits count", "visits"], "tags": ["tags"], "domain": ["domain"],
            ]
        case .bitly:
            [
                "url": ["long url", "long_url"], "alias": ["bitlink", "short link", "link"], "title": ["title"],
                "clicks": ["clicks", "total clicks", "engagements"], "tags": ["tags"],
            ]
        }
    }

    /// The format a file's header names: the first whose own columns it has, else ours.
    static func detect(header: [String]) -> ImportFormat {
        let names = Set(header.map(normalized))
        if names.contains("keyword"), names.contains("url") { return .yourls }
        if names.contains("short code"), names.contains("long url") { return .shlink }
        if names.contains("bitlink"), names.contains("long url") { return .bitly }
        return .ours
    }

    /// Our column → its position in a file of this format with `header`.
    func positions(header: [String]) -> [String: Int] {
        var positions: [String: Int] = [:]
        let names = header.map(Self.normalized)
        for (column, candidates) in synonyms {
            if let index = candidates.lazy.compactMap({ names.firstIndex(of: $0) }).first { positions[column] = index }
        }
        return positions
    }

    /// A header name as compared: trimmed, lower-cased.
    private static func normalized(_ name: String) -> String { name.trimmingCharacters(in: .whitespaces).lowercased() }

    /// Our value of `column` in a row whose fields are at `positions`.
    func value(_ column: String, of row: [String], positions: [String: Int]) -> String {
        let raw =
            positions[column].flatMap { $0 < row.count ? row[$0] : nil }?.trimmingCharacters(in: .whitespaces) ?? ""
        switch (self, column) {
        case (.ours, _): return raw
        case (.bitly, "alias"): return Self.shortLinkParts(raw)?.code ?? raw
        case (.bitly, "domain"):
            let link = positions["alias"].flatMap { $0 < row.count ? row[$0] : nil } ?? ""
            return Self.shortLinkParts(link.trimmingCharacters(in: .whitespaces))?.domain ?? ""
        case (.shlink, "domain"): return raw.uppercased() == "DEFAULT" ? "" : raw
        case (_, "tags"): return Self.tags(raw).joined(separator: " ")
        default: return raw
        }
    }

    /// `bit.ly/3xYz` or `https://go.acme.com/sale` → its host and code.
    static func shortLinkParts(_ link: String) -> (domain: String, code: String)? {
        var text = Substring(link)
        if let scheme = text.range(of: "://") { text = text[scheme.upperBound...] }
        guard let slash = text.firstIndex(of: "/") else { return nil }
        let code = text[text.index(after: slash)...].split(separator: "?").first.map(String.init) ?? ""
        guard !code.isEmpty else { return nil }
        return (String(text[..<slash]), code)
    }

    /// Another shortener's tags as ours: separated by `,`, `|` or `;` (by spaces when none of
    /// those appears), lower-cased, anything but `a-z 0-9 - _` as `-`, at most 32 characters,
    /// none twice, the first ten.
    static func tags(_ text: String) -> [String] {
        let separators: Set<Character> = text.contains(where: { ",|;".contains($0) }) ? [",", "|", ";"] : [" "]
        var tags: [String] = []
        for part in text.split(whereSeparator: { separators.contains($0) }) {
            let tag = String(
                part.trimmingCharacters(in: .whitespaces).lowercased().map {
                    $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "-"
                }
                .prefix(LinkTags.maximumLength))
            if !tag.isEmpty, !tags.contains(tag) { tags.append(tag) }
        }
        return Array(tags.prefix(10))
    }

    /// Shlink's REST API list (`{"shortUrls":{"data":[…]}}`, or the bare array) as the rows of
    /// its CSV: the header, then one row per link.
    static func rows(fromShlinkJSON data: Data) throws -> [[String]] {
        let object = try JSONSerialization.jsonObject(with: data)
        let items =
            ((object as? [String: Any])?["shortUrls"] as? [String: Any])?["data"] as? [[String: Any]]
            ?? (object as? [[String: Any]])
        guard let items else {
            throw ValidationError("not a Shlink short URL list: expected {\"shortUrls\":{\"data\":[…]}}")
        }
        var rows = [["Short Code", "Long URL", "Title", "Visits count", "Tags", "Domain"]]
        for item in items {
            let visits =
                ((item["visitsSummary"] as? [String: Any])?["total"] as? Int) ?? (item["visitsCount"] as? Int) ?? 0
            rows.append([
                item["shortCode"] as? String ?? "", item["longUrl"] as? String ?? "", item["title"] as? String ?? "",
                String(visits), (item["tags"] as? [String] ?? []).joined(separator: ","),
                item["domain"] as? String ?? "",
            ])
        }
        return rows
    }
}
