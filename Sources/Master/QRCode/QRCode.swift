import CQREncode
import Foundation

/// A QR code's modules (its black and white squares), encoded by libqrencode. The only user of
/// libqrencode; rendering is ``QRCode/svg(size:margin:)`` and ``QRCode/png(size:margin:)``.
struct QRCode: Sendable {
    /// How much of the code may be damaged and still read: L 7 %, M 15 %, Q 25 %, H 30 %.
    enum CorrectionLevel: String, CaseIterable, Sendable {
        case low = "L", medium = "M", quartile = "Q", high = "H"

        fileprivate var qrencode: QRecLevel {
            switch self {
            case .low: QR_ECLEVEL_L
            case .medium: QR_ECLEVEL_M
            case .quartile: QR_ECLEVEL_Q
            case .high: QR_ECLEVEL_H
            }
        }
    }

    /// Why a text could not be encoded.
    enum EncodingError: Error, Equatable {
        /// Longer than the largest QR code (version 40) holds at this level.
        case tooLong
        /// libqrencode failed for another reason (its `errno`).
        case failed(Int32)
    }

    /// Modules per side (21 for version 1, up to 177 for version 40).
    let width: Int
    /// Row by row, `true` for a dark module.
    let modules: [Bool]

    /// Encodes `text` as 8-bit bytes, in the smallest version that holds it at `level`.
    init(encoding text: String, level: CorrectionLevel = .medium) throws(EncodingError) {
        errno = 0
        guard let code = QRcode_encodeString8bit(text, 0, level.qrencode) else {
            throw errno == ERANGE ? .tooLong : .failed(errno)
        }
        defer { QRcode_free(code) }
        let width = Int(code.pointee.width)
        let data = UnsafeBufferPointer(start: code.pointee.data, count: width * width)
        self.width = width
        // Bit 0 is the module's colour; the other bits say what part of the symbol it is.
        self.modules = data.map { $0 & 1 == 1 }
    }

    /// Whether the module at `row`, `column` is dark.
    func isDark(row: Int, column: Int) -> Bool { modules[row * width + column] }
}
