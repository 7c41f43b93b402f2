import CPNG
import Foundation

extension QRCode {
    /// Where the modules go in a square image of `size` pixels with `margin` light modules of
    /// quiet zone on every side: each module is `scale` pixels, and what does not divide evenly
    /// widens the quiet zone (`offset` pixels before the first module).
    struct Layout: Equatable {
        let size: Int
        let scale: Int
        let offset: Int

        /// Nil when `size` pixels cannot give every module at least one pixel.
        init?(width: Int, size: Int, margin: Int) {
            let modules = width + 2 * margin
            guard modules > 0, size >= modules else { return nil }
            self.size = size
            self.scale = size / modules
            self.offset = (size - scale * width) / 2
        }
    }

    /// The smallest image size in pixels that fits the code with `margin` modules of quiet zone.
    func minimumSize(margin: Int) -> Int { width + 2 * margin }

    /// An SVG image of `size` × `size` pixels: one path of the dark modules, row runs merged,
    /// on a white square; drawn in module units, so it scales without blur.
    func svg(size: Int, margin: Int) -> String {
        let side = width + 2 * margin
        var path = ""
        for row in 0..<width {
            var column = 0
            while column < width {
                guard isDark(row: row, column: column) else {
                    column += 1
                    continue
                }
                let start = column
                while column < width, isDark(row: row, column: column) { column += 1 }
                path += "M\(start + margin) \(row + margin)h\(column - start)v1h-\(column - start)z"
            }
        }
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(size)" height="\(size)" viewBox="0 0 \(side) \(side)" \
            shape-rendering="crispEdges"><rect width="\(side)" height="\(side)" fill="#fff"/>\
            <path fill="#000" d="\(path)"/></svg>

            """
    }

    /// Why a PNG could not be written.
    struct PNGError: Error, Equatable {
        /// libpng's message.
        let message: String
    }

    /// A PNG image (8-bit greyscale) of `layout.size` × `layout.size` pixels, written by libpng's
    /// simplified API.
    func png(layout: Layout) throws(PNGError) -> [UInt8] {
        let size = layout.size
        var pixels = [UInt8](repeating: 0xFF, count: size * size)
        for row in 0..<width {
            for column in 0..<width where isDark(row: row, column: column) {
                let top = layout.offset + row * layout.scale
                let left = layout.offset + column * layout.scale
                for y in top..<(top + layout.scale) {
                    let start = y * size + left
                    for x in start..<(start + layout.scale) { pixels[x] = 0 }
                }
            }
        }
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        image.width = png_uint_32(size)
        image.height = png_uint_32(size)
        image.format = png_uint_32(PNG_FORMAT_GRAY)
        defer { png_image_free(&image) }
        var length: png_alloc_size_t = 0
        // First the size, then the bytes.
        guard png_image_write_to_memory(&image, nil, &length, 0, pixels, png_int_32(size), nil) != 0 else {
            throw PNGError(message: Self.message(of: &image))
        }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        let written = bytes.withUnsafeMutableBytes { buffer in
            png_image_write_to_memory(&image, buffer.baseAddress, &length, 0, pixels, png_int_32(size), nil)
        }
        guard written != 0 else { throw PNGError(message: Self.message(of: &image)) }
        return Array(bytes.prefix(Int(length)))
    }

    private static func message(of image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { buffer in
            String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
