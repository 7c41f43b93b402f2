import Testing
@testable import Master

/// The QR code wrapper's logic: versions, layout and the renderers' output shape. (That the codes
/// read back as the text is checked by an independent decoder in scripts/browser_test.sh.)
@Suite struct QRCodeTests {
    @Test func theVersionGrowsWithTheTextAndTheLevel() throws {
        let short = try QRCode(encoding: "http://localhost:8081/abc")
        #expect(short.width == 25 || short.width == 29)
        #expect(short.modules.count == short.width * short.width)
        let robust = try QRCode(encoding: "http://localhost:8081/abc", level: .high)
        #expect(robust.width > short.width)
        // The finder pattern's top-left corner is dark, the module inside its ring light.
        #expect(short.isDark(row: 0, column: 0) && !short.isDark(row: 1, column: 1))
        #expect(throws: QRCode.EncodingError.tooLong) { try QRCode(encoding: String(repeating: "x", count: 3000)) }
    }

    @Test func theLayoutGivesEveryModuleWholePixelsAndCentresTheRest() throws {
        let layout = try #require(QRCode.Layout(width: 25, size: 300, margin: 4))
        #expect(layout.scale == 300 / 33)
        #expect(layout.offset == (300 - 9 * 25) / 2)
        #expect(QRCode.Layout(width: 25, size: 32, margin: 4) == nil)
        #expect(QRCode.Layout(width: 25, size: 33, margin: 4)?.scale == 1)
    }

    @Test func theSVGDrawsRowRunsInModuleUnits() throws {
        let code = try QRCode(encoding: "http://localhost:8081/abc")
        let svg = code.svg(size: 128, margin: 4)
        #expect(svg.contains(#"viewBox="0 0 \#(code.width + 8) \#(code.width + 8)""#))
        // The finder pattern's top row: seven dark modules in one run.
        #expect(svg.contains("M4 4h7v1h-7z"))
    }

    @Test func thePNGHasTheAskedSize() throws {
        let code = try QRCode(encoding: "http://localhost:8081/abc")
        let png = try code.png(layout: try #require(QRCode.Layout(width: code.width, size: 64, margin: 2)))
        #expect(png.prefix(4) == [0x89, 0x50, 0x4E, 0x47])
        #expect(png[16..<24] == [0, 0, 0, 64, 0, 0, 0, 64])
    }
}
