/// Finds a key of a JSON object that a type does not know: the API refuses such a field by name
/// (`unknown_field`, or a routing problem) instead of ignoring it.
public enum UnknownKeys {
    /// The first key of the object `decoder` holds that is not one of `Key`'s, cut to 64
    /// characters; nil when every key is known (or it is no object).
    public static func first<Key: CodingKey & CaseIterable>(in decoder: any Decoder, knowing _: Key.Type) -> String? {
        let known = Set(Key.allCases.map(\.stringValue))
        guard let keys = try? decoder.container(keyedBy: AnyKey.self).allKeys else { return nil }
        return keys.first { !known.contains($0.stringValue) }.map { String($0.stringValue.prefix(64)) }
    }

    /// The names of `Key`'s keys, as an error lists them.
    public static func names<Key: CodingKey & CaseIterable>(of _: Key.Type) -> String {
        Key.allCases.map(\.stringValue).joined(separator: ", ")
    }

    /// Any key of an object.
    private struct AnyKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
