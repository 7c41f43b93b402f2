import Foundation
import SharedJSON
import Testing

/// The pieces the hand-written encoders write in place are the text Foundation's encoder writes.
@Suite struct JSONWriterTests {
    private struct Fields: Encodable {
        var at: Date?
        var id: UUID
        var number: Int64
    }

    @Test func writesIntegersInstantsAndIDsAsTheEncoderDoes() throws {
        let numbers: [Int64] = [.min, .min + 1, -1_000, -10, -9, -1, 0, 1, 9, 10, 99, 100, 1_795_338_000, .max]
        let instants: [Date?] = [
            nil, Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1_795_338_000.25),
            Date(timeIntervalSince1970: 253_402_300_799.5),
            // Outside 1970-9999: written by the formatter, in place all the same.
            Date(timeIntervalSince1970: -0.5), Date(timeIntervalSince1970: 253_402_300_800),
        ]
        let encoder = JSONEncoder.project
        for number in numbers {
            for at in instants {
                let fields = Fields(at: at, id: UUID(), number: number)
                var json = JSONWriter()
                json.open()
                json.field("at", fields.at)
                json.field("id", fields.id)
                json.field("number", fields.number)
                json.close()
                #expect(
                    String(decoding: json.bytes, as: UTF8.self)
                        == String(decoding: try encoder.encode(fields), as: UTF8.self))
            }
        }
    }
}
