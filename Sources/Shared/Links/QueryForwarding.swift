/// A visitor's query string carried over to a link's target: `/sale?utm_source=x` on a link to
/// `https://shop/sale?ref=1` goes to `https://shop/sale?ref=1&utm_source=x`.
public enum QueryForwarding {
    /// `target` with the parameters of `query` (the visitor's, without the `?`) merged into its
    /// own: a parameter the visitor sends replaces every one of the same name in the target, the
    /// others keep their order, the visitor's follow, and a fragment stays last. Encodings are
    /// kept as sent; a byte a URI may not hold raw (a space, a quote, anything not ASCII or a
    /// control character) is percent-encoded, so the result is still a valid ASCII URI.
    public static func merge(target: String, query: Substring) -> String {
        if let appended = appended(target: target, query: query) { return appended }
        let visitor = parameters(of: query).map(encoded)
        guard !visitor.isEmpty else { return target }
        var base = Substring(target)
        var fragment: Substring = ""
        if let hash = base.firstIndex(of: "#") {
            fragment = base[hash...]
            base = base[..<hash]
        }
        var own: [Substring] = []
        if let mark = base.firstIndex(of: "?") {
            own = parameters(of: base[base.index(after: mark)...])
            base = base[..<mark]
        }
        let replaced = Set(visitor.map { name(of: $0) })
        let kept = own.filter { !replaced.contains(name(of: $0)) }.map(String.init)
        return base + "?" + (kept + visitor).joined(separator: "&") + fragment
    }

    /// The query a redirect adds to a link's target: the link's campaign parameters (``UTMParameters/query``)
    /// the visitor's query does not set, then the visitor's own when the link forwards it.
    public static func added(campaign: String, visitor: Substring?, forwarding: Bool) -> Substring {
        let visitor = forwarding ? visitor ?? "" : ""
        guard !campaign.isEmpty else { return visitor }
        let sent = Set(parameters(of: visitor).map { name(of: $0) })
        let campaign = parameters(of: Substring(campaign)).filter { !sent.contains(name(of: $0)) }
        return Substring((campaign + parameters(of: visitor)).joined(separator: "&"))
    }

    /// The usual case in one pass over the bytes, without splitting anything: `target?query`
    /// when the target has no query or fragment of its own and the query is whole parameters
    /// (no empty one) of bytes a query may carry raw, each `%` starting an escape. Nil otherwise,
    /// for the general path.
    private static func appended(target: String, query: Substring) -> String? {
        var target = target
        target.makeContiguousUTF8()
        var query = query
        query.makeContiguousUTF8()
        return target.utf8.withContiguousStorageIfAvailable { targetBytes -> String? in
            guard !targetBytes.contains(where: { $0 == 0x3F || $0 == 0x23 }) else { return nil }
            return query.utf8.withContiguousStorageIfAvailable { queryBytes -> String? in
                guard let first = queryBytes.first, first != 0x26, queryBytes.last != 0x26 else { return nil }
                var index = 0
                while index < queryBytes.count {
                    let byte = queryBytes[index]
                    if byte == 0x25 {
                        guard index + 2 < queryBytes.count, TargetURL.isHexDigit(queryBytes[index + 1]),
                            TargetURL.isHexDigit(queryBytes[index + 2])
                        else { return nil }
                    } else if byte == 0x26 {
                        if queryBytes[index + 1] == 0x26 { return nil }  // never past the end: the last is no `&`
                    } else if !TargetURL.pathAndQueryBytes(byte) {
                        return nil
                    }
                    index += 1
                }
                return String(unsafeUninitializedCapacity: targetBytes.count + 1 + queryBytes.count) { output in
                    _ = output.initialize(fromContentsOf: targetBytes)
                    output[targetBytes.count] = 0x3F
                    _ = output[(targetBytes.count + 1)...].initialize(fromContentsOf: queryBytes)
                    return targetBytes.count + 1 + queryBytes.count
                }
            } ?? nil
        } ?? nil
    }

    /// The non-empty `&`-separated parameters of a query.
    private static func parameters(of query: Substring) -> [Substring] {
        query.split(separator: "&", omittingEmptySubsequences: true)
    }

    /// A parameter's name, the part before `=`.
    private static func name(of parameter: some StringProtocol) -> String {
        String(parameter.prefix { $0 != "=" })
    }

    /// `parameter` with every byte a query may not carry raw percent-encoded (a `%` that starts
    /// an escape is kept; one that does not is encoded), as a target's query is.
    private static func encoded(_ parameter: Substring) -> String {
        TargetURL.encoded(parameter, allowing: TargetURL.pathAndQueryBytes)
    }
}
