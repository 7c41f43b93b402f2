import Foundation

extension UUID {
    /// ``uuidString`` (upper-case hex in 8-4-4-4-12 groups), written without Foundation, which
    /// formats each byte through `printf`: every event a replica publishes carries its id.
    public var text: String {
        String(unsafeUninitializedCapacity: Self.textLength) { text in
            write(into: text)
            return Self.textLength
        }
    }

    /// Characters of ``text``.
    static let textLength = 36

    /// Writes ``text`` into the first ``textLength`` bytes of `text`.
    func write(into text: UnsafeMutableBufferPointer<UInt8>) {
        let digits: StaticString = "0123456789ABCDEF"
        withUnsafeBytes(of: uuid) { bytes in
            var index = 0
            for (position, byte) in bytes.enumerated() {
                if position == 4 || position == 6 || position == 8 || position == 10 {
                    text[index] = UInt8(ascii: "-")
                    index += 1
                }
                text[index] = digits.utf8Start[Int(byte >> 4)]
                text[index + 1] = digits.utf8Start[Int(byte & 0x0F)]
                index += 2
            }
        }
    }
}
