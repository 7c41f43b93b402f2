import SharedLinks
import SharedService

/// What one request may see and touch among the links, from its API key: the links it is
/// limited to (the ones it created, for a `creator`; those carrying one of its tags; those on
/// its domains). ``AccessMiddleware`` sets it for the
/// request's task; ``ScopedLinkRepository`` applies it to every read and write of links.
struct AccessScope: Sendable, Equatable {
    /// The links it may see.
    var visibility = LinkVisibility()

    /// The scope of the request being handled; unlimited outside one (commands, background work).
    @TaskLocal static var current = AccessScope()

    /// The scope of `caller`'s key.
    init(_ caller: APIKeyGuard.Caller) {
        guard case .key(let key) = caller else { return }
        visibility = LinkVisibility(
            createdBy: key.role.seesOwnLinksOnly ? key.id : nil, anyOfTags: key.tags, domains: key.domains)
    }

    init() {}

    /// `403 forbidden` for a link that exists but is outside the scope: never `404`, which
    /// would tell an attacker nothing true, and never the link.
    var refusal: APIError {
        APIError(.forbidden, "forbidden", "this API key may not use this link (\(limits))")
    }

    /// The scope's limits, in words.
    var limits: String {
        var parts: [String] = []
        if visibility.createdBy != nil { parts.append("only the links it created") }
        if !visibility.anyOfTags.isEmpty {
            parts.append("only links tagged \(visibility.anyOfTags.joined(separator: " or "))")
        }
        if !visibility.domains.isEmpty { parts.append("only links on its \(visibility.domains.count) domain(s)") }
        return parts.isEmpty ? "no limits" : "it is limited to " + parts.joined(separator: ", ")
    }

    /// `link` as this scope creates it: recorded as the request's and carrying its tags; `403`
    /// for a domain outside its domains (the default one too, when it is not one of them).
    func stamped(_ link: NewLink) throws(APIError) -> NewLink {
        var link = link
        link.origin = ChangeOrigin.current
        for tag in visibility.anyOfTags where !link.tags.contains(tag) { link.tags.append(tag) }
        if !visibility.domains.isEmpty, !visibility.domains.contains(link.domain ?? "") {
            throw APIError(
                .forbidden, "forbidden", "this API key creates links only on its domains; name one in 'domain'",
                field: "domain")
        }
        if let problem = LinkTags.problem(with: link.tags) {
            throw APIError(.badRequest, "invalid_tags", "\(problem), this API key's tags included", field: "tags")
        }
        return link
    }

    /// Checks an edit of a link inside the scope: a key limited to tags keeps one of them on
    /// the link, and one limited to domains moves it only among them.
    func check(_ change: LinkChange) throws(APIError) {
        if let tags = change.tags, !visibility.anyOfTags.isEmpty, !tags.contains(where: visibility.anyOfTags.contains) {
            throw APIError(
                .forbidden, "forbidden",
                "this API key may only leave links tagged \(visibility.anyOfTags.joined(separator: " or "))",
                field: "tags")
        }
        if let domain = change.domain, !visibility.domains.isEmpty, !visibility.domains.contains(domain) {
            throw APIError(
                .forbidden, "forbidden", "this API key may not move links to that domain", field: "domain")
        }
    }
}
