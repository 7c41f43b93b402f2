import Foundation
@testable import SharedEvents
@testable import SharedJSON
import SharedLinks
import TestSupport
import Testing

@Suite struct JSONReaderTests {
    /// Reads `text` as one value with `read`, then checks that nothing follows.
    private func read<Value>(_ text: String, _ read: (inout JSONReader) throws -> Value) throws -> Value {
        var reader = JSONReader(Array(text.utf8))
        let value = try read(&reader)
        try reader.finish()
        return value
    }

    @Test func readsStringsWithEveryEscape() throws {
        #expect(try read(#""plain""#) { try $0.readString() } == "plain")
        #expect(try read(#" "a\"b\\c\/d\b\f\n\r\t" "#) { try $0.readString() } == "a\"b\\c/d\u{8}\u{C}\n\r\t")
        #expect(try read(#""\u00e9\u2028\uD83D\uDE00\u0000""#) { try $0.readString() } == "é\u{2028}😀\u{0}")
        #expect(try read("\"é😀\"") { try $0.readString() } == "é😀")
        for bad in [
            #""a"#, #""\x""#, #""\u12""#, #""\uD800""#, #""\uDE00\uD83D""#, #""\uD83D\u0041""#, "\"a\u{1}\"", "\"\\",
        ] {
            #expect(throws: JSONReader.SyntaxError.self, "\(bad)") { try read(bad) { try $0.readString() } }
        }
        var invalidUTF8 = JSONReader([UInt8(ascii: "\""), 0xC3, 0x28, UInt8(ascii: "\"")])
        #expect(throws: JSONReader.SyntaxError.self) { try invalidUTF8.readString() }
    }

    @Test func readsIntegersAndNothingElseAsIntegers() throws {
        #expect(try read("0") { try $0.readInteger() } == 0)
        #expect(try read("-0") { try $0.readInteger() } == 0)
        #expect(try read("9223372036854775807") { try $0.readInteger() } == Int64.max)
        #expect(try read("-9223372036854775808") { try $0.readInteger() } == Int64.min)
        for bad in ["9223372036854775808", "-9223372036854775809", "01", "-", "1.0", "1e2", "+1", "- 1", ""] {
            #expect(throws: JSONReader.SyntaxError.self, "\(bad)") { try read(bad) { try $0.readInteger() } }
        }
    }

    @Test func skipsAnyValueButChecksItStrictly() throws {
        let valid = [
            #"{"a":[1,-2.5e+3,0.25E-1,true,false,null,"x",{}],"b":{"c":[]}}"#, "[]", " 7 ", #""s""#, "null", "-0.0",
        ]
        for text in valid { try read(text) { try $0.skipValue() } }
        let invalid = [
            "[1,]", #"{"a":1,}"#, "[1 2]", #"{"a" 1}"#, "{1:2}", "01", "1.", ".5", "1e", "-", "tru", "nul", "[",
            "\u{FEFF}[]", "[] x", #"{"a":"\x"}"#, "", "truex", "1.5.5",
            String(repeating: "[", count: JSONReader.maximumDepth + 1)
                + String(repeating: "]", count: JSONReader.maximumDepth + 1),
        ]
        for text in invalid {
            #expect(throws: (any Error).self, "\(text)") { try read(text) { try $0.skipValue() } }
        }
        // Nesting far deeper than allowed is refused, not recursed into until the stack ends.
        let deep = String(repeating: "[", count: 1_000_000)
        #expect(throws: JSONReader.SyntaxError.self) { try read(deep) { try $0.skipValue() } }
        let nested =
            String(repeating: "[", count: JSONReader.maximumDepth)
            + String(repeating: "]", count: JSONReader.maximumDepth)
        try read(nested) { try $0.skipValue() }
    }

    // MARK: - Link events read by hand against Foundation's decoder

    /// A link event with every field drawn at random: one in four out of range somewhere.
    static func randomEvent(_ random: inout SeededGenerator) -> LinkEvent {
        func pick<T>(_ values: [T]) -> T { values[Int(random.next() % UInt64(values.count))] }
        func maybe<T>(_ value: @autoclosure () -> T) -> T? { random.next() % 3 == 0 ? nil : value() }
        let wild = random.next() % 4 == 0
        let safe = ["a", "Z9", "-", "_", "/", "?q=1&r=2#f", "é", "😀", "\u{2028}", "\"", "\\", " ", "%20"]
        let pieces = wild ? safe + ["\n", "\t", "\u{1}", "\u{7F}"] : safe
        func text(_ count: Int) -> String { (0..<count).map { _ in pick(pieces) }.joined() }
        func time(_ limit: UInt64) -> Date { Date(timeIntervalSince1970: Double(random.next() % limit) / 1000) }
        let type = pick(LinkEvent.Kind.allCases)
        let url = "https://e.com/" + text(Int(random.next() % 12))
        return LinkEvent(
            type: type, version: 1, eventID: UUID.random(using: &random), occurredAt: time(4_000_000_000_000),
            code: pick(wild ? ["", "a b", "ü", String(repeating: "x", count: 65), text(3)] : ["abc", "a-B_9", "Q"]),
            revision: pick(wild ? [-1, Int64.min] : [1, 2, Int64.max, Int64(random.next() % 1000)]),
            url: type == .created || type == .updated ? url : maybe(url),
            expiresAt: maybe(time(wild ? 1_000_000_000_000_000_000 : 200_000_000_000_000)),
            maxClicks: maybe(pick(wild ? [0, -5] : [1, 7, Int64.max])),
            tags: maybe(pick(wild ? [["Upper"], ["a", "a"], [""]] : [[], ["docs"], ["a", "q4-launch"]])),
            exhausted: maybe(random.next() % 2 == 0), reannounced: maybe(random.next() % 2 == 0))
    }

    /// The outcome of decoding `bytes`: the event or the reason it is unusable.
    private static func outcome(_ decode: ([UInt8]) throws(EventDecodingError) -> LinkEvent, _ bytes: [UInt8])
        -> Result<LinkEvent, EventDecodingError>
    {
        do throws(EventDecodingError) { return .success(try decode(bytes)) } catch { return .failure(error) }
    }

    @Test func linkEventsReadByHandAreFoundationsInEveryLayout() throws {
        var random = SeededGenerator(state: 0xE7E7)
        let pretty = JSONEncoder.project
        let layouts: [(LinkEvent) throws -> [UInt8]] = [
            { EventCodec.encode($0) },
            { event in
                let encoder = JSONEncoder()  // keys in declaration order, escaped slashes
                encoder.dateEncodingStrategy = pretty.dateEncodingStrategy
                return Array(try encoder.encode(event))
            },
            { event in
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted]
                encoder.dateEncodingStrategy = pretty.dateEncodingStrategy
                return Array(try encoder.encode(event))
            },
        ]
        var usable = 0
        for _ in 0..<3000 {
            let event = Self.randomEvent(&random)
            for layout in layouts {
                let bytes = try layout(event)
                let byHand = Self.outcome(EventCodec.decodeLinkEvent, bytes)
                let generic = Self.outcome(EventCodec.decode, bytes)
                switch (byHand, generic) {
                case (.success(let read), .success(let expected)):
                    #expect(read == expected)
                    usable += 1
                case (.failure(let read), .failure(let expected)):
                    #expect(read.reason == expected.reason, "\(String(decoding: bytes, as: UTF8.self))")
                default:
                    Issue.record("\(byHand) vs \(generic) for \(String(decoding: bytes, as: UTF8.self))")
                }
            }
        }
        #expect(usable > 1000, "the generator makes usable events too")
    }

    @Test func mangledLinkEventsAreNeverReadOtherwiseThanByFoundation() throws {
        var random = SeededGenerator(state: 0xBAD_5EED)
        let alphabet = Array(#"{}[]",:\ 0123456789.eE-+ntrufalsxyz"#.utf8) + [0, 0x1F, 0x7F, 0xC3, 0xE2, 0xFF]
        var readByBoth = 0
        for _ in 0..<20_000 {
            var bytes = EventCodec.encode(Self.randomEvent(&random))
            for _ in 0...(random.next() % 3) {
                let at = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 5 {
                case 0: bytes[at] = alphabet[Int(random.next() % UInt64(alphabet.count))]
                case 1: bytes.remove(at: at)
                case 2: bytes.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: at)
                case 3: bytes.removeSubrange(at...)
                default:
                    // A member written twice, or a piece of text repeated.
                    let end = min(bytes.count, at + Int(random.next() % 40))
                    bytes.insert(contentsOf: bytes[at..<end], at: at)
                }
                if bytes.isEmpty { bytes = [UInt8(ascii: "{")] }
            }
            let byHand = Self.outcome(EventCodec.decodeLinkEvent, bytes)
            let generic = Self.outcome(EventCodec.decode, bytes)
            if case .success(let read) = byHand {
                // Whatever the reader accepts, Foundation accepts as the same event.
                #expect(try generic.get() == read, "\(String(decoding: bytes, as: UTF8.self))")
                readByBoth += 1
            }
            if case .failure = generic {
                #expect(throws: EventDecodingError.self, "\(String(decoding: bytes, as: UTF8.self))") {
                    try byHand.get()
                }
            }
        }
        #expect(readByBoth > 1000, "some mangled events stay usable")
    }

    @Test func refusesWhatFoundationWouldReadLeniently() throws {
        let event = String(
            decoding: EventCodec.encode(LinkEvent.deleted(LinkAddress(code: "abc"), revision: 2)), as: UTF8.self)
        let lenient = [
            event.replacingOccurrences(of: #""version":1"#, with: #""version":1.0"#),
            event.replacingOccurrences(of: "}", with: ",}"),
            "\u{FEFF}" + event,
            event.replacingOccurrences(of: #""code":"abc""#, with: #""code":"abc","code":"xyz""#),
            event.replacingOccurrences(of: "{", with: #"{"extra":"\x","#),
            event.replacingOccurrences(of: "{", with: #"{"extra":1.e5,"#),
        ]
        for text in lenient {
            #expect(throws: EventDecodingError.self, "\(text)") { try EventCodec.decodeLinkEvent(Array(text.utf8)) }
        }
        // Members the reader does not know are skipped, whatever their shape.
        let extended = event.replacingOccurrences(of: "{", with: #"{"later":{"a":[1,{"b":null}]},"#)
        #expect(try EventCodec.decodeLinkEvent(Array(extended.utf8)) == EventCodec.decode(Array(event.utf8)))
    }
}

@Suite struct RFC3339Tests {
    @Test func readsWhatItWritesAsTheFormatterDoes() throws {
        var random = SeededGenerator(state: 0x3339)
        let formatter = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        // Every millisecond instant from 1970 to 9999 is written in the shape read without the formatter.
        let instants =
            (0..<50_000).map { _ in
                Date(timeIntervalSince1970: Double(random.next() % 253_402_300_800_000) / 1000)
            } + [
                Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 951_782_400.999),
                LinkLimits.latestExpiry.addingTimeInterval(-0.001),
            ]
        for instant in instants {
            let text = RFC3339.format(instant)
            let read = try #require(RFC3339.utcWithMilliseconds(text), "\(text)")
            #expect(read == (try formatter.parse(text)), "\(text)")
            // What was read is written back as it was; the formatter often writes the millisecond before.
            #expect(RFC3339.format(read) == text)
        }
        #expect(RFC3339.format(try RFC3339.parse("2026-12-07T04:50:02.381Z")) == "2026-12-07T04:50:02.381Z")
    }

    @Test func writesWhatTheFormatterWritesWithoutIt() throws {
        var random = SeededGenerator(state: 0x3340)
        let formatter = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        // Instants to the microsecond from 1970 to 2255 (as far as a `Double` counts them), none
        // within a `Double`'s precision below a whole millisecond, where the formatter writes the
        // one before, and the edges.
        let instants =
            (0..<50_000).map { _ in
                let microseconds = random.next() % (1 << 53)
                let inMillisecond = microseconds % 1000
                let away =
                    inMillisecond == 0 || inMillisecond >= 950 ? microseconds - inMillisecond + 500 : microseconds
                return Date(timeIntervalSince1970: Double(away) / 1_000_000)
            } + [
                Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 0.0009),
                Date(timeIntervalSince1970: 951_782_400.9999),
                Date(timeIntervalSince1970: 253_402_300_799.9985), Date(),
                Date(timeIntervalSinceReferenceDate: 0.0005),
            ]
        for instant in instants {
            #expect(
                RFC3339.utcWithMilliseconds(instant) == formatter.format(instant), "\(instant.timeIntervalSince1970)")
        }
        // Where they differ: the last millisecond of 9999 is written as such, not as the one before.
        let last = Date(timeIntervalSince1970: 253_402_300_799.999)
        #expect(RFC3339.format(last) == "9999-12-31T23:59:59.999Z" && formatter.format(last).hasSuffix("59.998Z"))
        #expect(RFC3339.utcWithMilliseconds(Date(timeIntervalSince1970: -0.5)) == nil)
        #expect(RFC3339.utcWithMilliseconds(Date(timeIntervalSince1970: 253_402_300_800)) == nil)
        #expect(
            RFC3339.format(Date(timeIntervalSince1970: -0.5)) == formatter.format(Date(timeIntervalSince1970: -0.5)))
    }

    @Test func leavesOtherShapesToTheFormatter() throws {
        for text in [
            "2026-02-29T00:00:00.000Z", "2026-13-01T00:00:00.000Z", "2026-11-22T24:00:00.000Z",
            "2026-11-22T10:60:00.000Z",
            "2026-11-22T10:00:60.000Z", "1969-12-31T23:59:59.999Z", "2026-11-22T10:00:00Z",
            "2026-11-22T10:00:00.250+01:00",
            "2026-11-22 10:00:00.000Z", "2026-11-22T10:00:00.00xZ", "+026-11-22T10:00:00.000Z",
        ] {
            #expect(RFC3339.utcWithMilliseconds(text) == nil, "\(text)")
        }
        #expect(try RFC3339.parse("2026-11-22T10:00:00.250+01:00") == Date(timeIntervalSince1970: 1_795_338_000.25))
        #expect(try RFC3339.parse("2026-11-22T10:00:00Z") == Date(timeIntervalSince1970: 1_795_341_600))
    }
}
