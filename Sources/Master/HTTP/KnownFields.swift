import SharedJSON
import SharedService

/// Refuses a JSON body's field that the endpoint does not know, as Stripe's API does: a client
/// sending `pasword` to a server must learn it at once, not get a public link.
enum KnownFields {
    /// Throws `400 unknown_field` naming the first key of the object `decoder` holds that is not
    /// one of `Key`'s; `subject` says what the object is ("a link", "an edit").
    static func check<Key: CodingKey & CaseIterable>(
        _ decoder: any Decoder, against _: Key.Type, subject: String
    ) throws {
        guard let unknown = UnknownKeys.first(in: decoder, knowing: Key.self) else { return }
        throw APIError(
            .badRequest, "unknown_field",
            "'\(unknown)' is not a field of \(subject); its fields: \(UnknownKeys.names(of: Key.self))",
            field: unknown)
    }
}
