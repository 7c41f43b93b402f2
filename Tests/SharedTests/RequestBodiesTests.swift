import SharedService
import Testing

/// Which `Content-Type` headers name a media type.
@Suite struct RequestBodiesTests {
    @Test(arguments: [
        "application/json", "Application/JSON", "application/json; charset=utf-8", " application/json ",
        "\tapplication/json;charset=UTF-8", "application/json;",
    ])
    func aMediaTypeInAnyCaseWithParametersIsNamed(_ header: String) {
        #expect(RequestBodies.isMediaType(header, "application/json"), "\(header.debugDescription)")
    }

    @Test(arguments: [
        "", ";", "application/jsonx", "application/jso", "text/plain", "application/json+x; a=b",
        "application /json", "application/json\u{0}", "applicatioN/jsoN\u{212A}", "; application/json",
    ])
    func anyOtherHeaderIsNot(_ header: String) {
        #expect(!RequestBodies.isMediaType(header, "application/json"), "\(header.debugDescription)")
        #expect(!RequestBodies.isMediaType(nil, "application/json"))
    }
}
