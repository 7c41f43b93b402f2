/// Short codes: generated ones and the rules every code (generated or custom alias) obeys.
public enum ShortCode {
    /// Characters of generated codes: URL-safe without escaping, unambiguous in any font.
    static let alphabet = Array("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789".utf8)

    /// Length of generated codes: 57^7 ≈ 1.9 × 10^12 codes, so guessing a live one takes
    /// about a billion tries per thousand links.
    public static let generatedLength = 7

    /// Longest code accepted anywhere (custom aliases included).
    public static let maximumLength = 64

    /// A new random code from the system's cryptographic generator.
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    /// A random code drawn with `generator` (tests pass a seeded one).
    public static func random(using generator: inout some RandomNumberGenerator) -> String {
        random(length: generatedLength, using: &generator)
    }

    /// `length` random characters of the code alphabet (also for API key ids and secrets:
    /// 32 of them carry about 186 bits).
    public static func random(length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return random(length: length, using: &generator)
    }

    /// Characters drawn from one 64-bit number: 57^10 < 2^64 < 57^11.
    private static let charactersPerDraw = 10

    /// `length` random characters of the code alphabet drawn with `generator`, up to
    /// ``charactersPerDraw`` at a time as the base-57 digits of one uniform number below 57^n: as
    /// uniform as drawing each character alone, with a tenth of the calls to the generator (the
    /// system's costs a system call each).
    static func random(length: Int, using generator: inout some RandomNumberGenerator) -> String {
        let radix = UInt64(alphabet.count)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(length)
        while bytes.count < length {
            let digits = min(charactersPerDraw, length - bytes.count)
            var value = generator.next(upperBound: (0..<digits).reduce(1) { power, _ in power * radix })
            for _ in 0..<digits {
                bytes.append(alphabet[Int(value % radix)])
                value /= radix
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether `code` could name a link: 1-64 of `A-Z a-z 0-9 _ -`. Cheap enough to run on
    /// every redirect before touching Redis (inlinable: specialised in the caller, not run
    /// through generic witnesses).
    @inlinable
    public static func isWellFormed<S: StringProtocol>(_ code: S) -> Bool {
        let bytes = code.utf8
        return !bytes.isEmpty && bytes.count <= maximumLength && bytes.allSatisfy(isCodeByte)
    }

    @usableFromInline
    static func isCodeByte(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
            || byte == 0x5F || byte == 0x2D
    }
}
