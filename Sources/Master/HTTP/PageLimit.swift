import SharedService

/// The `limit` query parameter of a paged list: a whole number from 1 to ``maximum``,
/// ``standard`` when absent, `400 invalid_limit` otherwise.
struct PageLimit: Sendable {
    /// Items on a page when the request names no `limit`.
    let standard: Int
    /// Most items a page may hold.
    let maximum: Int

    /// The page size `text` asks for.
    func parse(_ text: String?) throws(APIError) -> Int {
        guard let text else { return standard }
        guard let value = Int(text), (1...maximum).contains(value) else {
            throw APIError(
                .badRequest, "invalid_limit", "'limit' must be a whole number from 1 to \(maximum)", field: "limit")
        }
        return value
    }
}
