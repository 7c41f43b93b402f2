import Foundation
import SharedService
import Testing

@Suite struct APIErrorTests {
    /// The hand-written body is what `JSONSerialization` wrote before it: the same bytes, for
    /// every character a message or field can hold.
    @Test func theBodyIsTheSerializersBytes() throws {
        let texts = [
            "no link has this code", "", "a \"quoted\" \\ path/with/slashes", "line\nbreak\ttab\r\u{1}\u{1F}",
            "\u{7F} é 😀 ünïcödé",
        ]
        for message in texts {
            for field in [nil, "url"] + texts {
                let error = APIError(.badRequest, "invalid_url", message, field: field)
                var object = ["code": "invalid_url", "message": message]
                if let field { object["field"] = field }
                let expected = try JSONSerialization.data(
                    withJSONObject: ["error": object], options: [.sortedKeys, .withoutEscapingSlashes])
                #expect(
                    String(decoding: error.body, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
            }
        }
    }
}
