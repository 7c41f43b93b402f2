/// How a link redirects: the status, whether the visitor's query string is carried over, and
/// whether search engines may index it.
public struct RedirectOptions: Sendable, Hashable {
    /// The redirect's status.
    public enum Status: Int, Sendable, CaseIterable {
        /// 301: permanent, cacheable; a browser may go straight to the target next time (its
        /// clicks are then not seen).
        case movedPermanently = 301
        /// 302: the default; never cached, so every click is seen.
        case found = 302
        /// 307: like 302, and the method and body are kept.
        case temporaryRedirect = 307
        /// 308: like 301, and the method and body are kept.
        case permanentRedirect = 308

        /// Whether browsers and proxies may keep it (301, 308).
        public var isPermanent: Bool { self == .movedPermanently || self == .permanentRedirect }
    }

    public var status: Status
    /// Merge the visitor's query string into the target's (``QueryForwarding``).
    public var forwardQuery: Bool
    /// Let search engines index the short URL: allowed in `robots.txt`, no `X-Robots-Tag: noindex`.
    public var crawlable: Bool

    public init(status: Status = .found, forwardQuery: Bool = true, crawlable: Bool = false) {
        self.status = status
        self.forwardQuery = forwardQuery
        self.crawlable = crawlable
    }

    /// 302, the query forwarded, not crawlable: every link's options unless it says otherwise.
    public static let standard = RedirectOptions()
}
