import Testing

@testable import Master

@Suite struct HTMLTitleTests {
    private func title(_ html: String) -> String? { HTMLTitle.extract(from: Array(html.utf8)) }

    @Test func readsTheFirstTitleInAnyCaseWithAttributes() {
        #expect(title("<html><head><title>Plain</title></head>") == "Plain")
        #expect(title("<HEAD><TITLE lang=\"en\">Upper</TITLE>") == "Upper")
        #expect(title("<title>First</title><title>Second</title>") == "First")
        #expect(title("<titles>No</titles><title>Yes</title>") == nil, "the first <title is not a title element")
    }

    @Test func decodesReferencesAndCollapsesWhiteSpace() {
        #expect(title("<title>\n  Tom &amp; Jerry\t&#8212;&#x21;  &nbsp;</title>") == "Tom & Jerry —!")
        #expect(title("<title>&unknown; &amp &#0; &#xFFFFFFFF;</title>") == "&unknown; &amp &#0; &#xFFFFFFFF;")
        #expect(title("<title>a&#1;b\u{7}c</title>") == "a b c", "control characters are dropped as spaces")
        #expect(title("<title>Straße – 東京</title>") == "Straße – 東京")
    }

    @Test func hasNoneWhenEmptyUnfinishedOrMissing() {
        #expect(title("<title>   </title>") == nil)
        #expect(title("<title>Cut off") == nil)
        #expect(title("<title") == nil)
        #expect(title("<html><body>no title</body></html>") == nil)
        #expect(title("") == nil)
    }

    @Test func isCutToTheLongestTitleALinkMayHave() {
        let long = String(repeating: "é", count: 600)
        let cut = title("<title>\(long)</title>")
        #expect(cut?.count == LinkRequest.maximumTitleLength)
        #expect(cut?.hasSuffix("…") == true)
        #expect(title("<title>\(String(repeating: "a", count: 512))</title>")?.count == 512)
    }

    @Test func bytesThatAreNotUTF8BecomeReplacementCharacters() {
        #expect(HTMLTitle.extract(from: Array("<title>a".utf8) + [0xFF] + Array("b</title>".utf8)) == "a\u{FFFD}b")
    }
}
