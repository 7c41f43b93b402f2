/// A link's tags: 0-10 labels of 1-32 characters from `a-z`, `0-9`, `-` and `_`, for filtering
/// and grouping. Checked on create and edit at the master and on every link event consumed.
public enum LinkTags {
    /// Most tags one link may have.
    public static let maximumCount = 10
    /// Longest tag.
    public static let maximumLength = 32

    /// Whether `tag` is 1-32 characters of `a-z`, `0-9`, `-` or `_`.
    public static func isWellFormed(_ tag: String) -> Bool {
        (1...maximumLength).contains(tag.utf8.count)
            && tag.utf8.allSatisfy { byte in
                (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x5F
            }
    }

    /// What is wrong with `tags` as one link's tags, or nil: too many, a malformed one, or one
    /// given twice.
    public static func problem(with tags: [String]) -> String? {
        guard tags.count <= maximumCount else { return "a link has at most \(maximumCount) tags" }
        if let bad = tags.first(where: { !isWellFormed($0) }) {
            return "tag '\(bad.prefix(40))' is not 1-\(maximumLength) characters of a-z, 0-9, '-' or '_'"
        }
        guard Set(tags).count == tags.count else { return "a tag is given twice" }
        return nil
    }
}
