import SharedService

/// Refuses a JSON body's field that the endpoint does not know, as Stripe's API does: a client
/// sending `password` to a server without passwords must learn it at once, not get a public link.
enum KnownFields {
    /// Throws `400 unknown_field` naming the first key of the object `decoder` holds that is not
    /// one of `Key`'s; `subject` says what the object is ("a link", "an edit").
    static func check<Key: CodingKey & CaseIterable>(
        _ decoder: any Decoder, against _: Key.Type, subject: String
    ) throws {
        let known = Key.allCases.map(\.stringValue)
        guard
            let unknown = try decoder.container(keyedBy: AnyKey.self).allKeys.first(where: {
                !known.contains($0.stringValue)
            })
        else { return }
        throw APIError(
            .badRequest, "unknown_field",
            "'\(unknown.stringValue.prefix(64))' is not a field of \(subject); its fields: \(known.joined(separator: ", "))",
            field: String(unknown.stringValue.prefix(64)))
    }

    /// Any key of an object.
    private struct AnyKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
