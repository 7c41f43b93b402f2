/// A fixed-size buffer that a C function fills with a NUL-terminated error text.
struct CErrorBuffer {
    var bytes = [CChar](repeating: 0, count: 512)

    /// The text up to the first NUL.
    var text: String { bytes.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } }
}
