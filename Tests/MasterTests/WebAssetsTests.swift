import Testing
@testable import Master

@Suite struct WebAssetsTests {
    @Test func onlyPlainNamesOfKnownTypesAreServed() {
        #expect(WebAssets.contentType(ofServable: "app.js") == "text/javascript; charset=utf-8")
        #expect(WebAssets.contentType(ofServable: "link-page.js") != nil)
        #expect(WebAssets.contentType(ofServable: "style.css") == "text/css; charset=utf-8")
        for name in [
            "..", "../app.js", ".hidden.js", "App.js", "app.min.js", "app.", ".js", "app.exe", "a b.js", "app.js\0",
        ] {
            #expect(WebAssets.contentType(ofServable: name) == nil, "\(name)")
        }
    }
}
