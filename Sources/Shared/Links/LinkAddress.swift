/// Where a link lives: its short domain and its code. Codes are unique per domain, so two
/// domains may each have a `sale`.
///
/// The default domain (the one `SHORTENER_PUBLIC_URL` names) is `domain == nil`: links made
/// before domains existed belong to it, and events without a `domain` mean it. ``key`` is the
/// address as one text, what the pipeline keys a link by (the Kafka message key, the replicas'
/// Redis, the click tables): the bare code on the default domain, so keys written before
/// domains existed still name the same links, else `<domain>/<code>` (neither a host nor a code
/// holds a `/`).
public struct LinkAddress: Hashable, Sendable, CustomStringConvertible {
    /// The link's domain, or `nil` for the default domain.
    public let domain: String?
    /// The short code.
    public let code: String

    /// The address of `code` on `domain` (`nil` or empty: the default domain).
    public init(domain: String?, code: String) {
        self.domain = domain?.isEmpty == false ? domain : nil
        self.code = code
    }

    /// The address on the default domain.
    public init(code: String) {
        self.init(domain: nil, code: code)
    }

    /// The address a ``key`` names, or `nil` when the text is no key (an empty part, or a code
    /// that is not well formed).
    public init?(key: some StringProtocol) {
        if let slash = key.lastIndex(of: "/") {
            let domain = key[..<slash]
            let code = key[key.index(after: slash)...]
            guard !domain.isEmpty, ShortCode.isWellFormed(code) else { return nil }
            self.init(domain: String(domain), code: String(code))
        } else {
            guard ShortCode.isWellFormed(key) else { return nil }
            self.init(domain: nil, code: String(key))
        }
    }

    /// `code` on the default domain, `<domain>/<code>` elsewhere.
    public var key: String { domain.map { "\($0)/\(code)" } ?? code }

    /// The domain as Postgres stores it: empty for the default domain.
    public var storedDomain: String { domain ?? "" }

    public var description: String { key }
}
