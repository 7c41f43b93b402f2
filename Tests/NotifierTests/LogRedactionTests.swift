@testable import Notifier
import Testing

@Suite struct LogRedactionTests {
    @Test func hidesCredentialsAndSecretLookingParameters() {
        #expect(LogRedaction.url("https://alice:s3cret@example.com/a?b=1") == "https://***@example.com/a?b=1")
        #expect(LogRedaction.url("https://bob@example.com/") == "https://***@example.com/")
        #expect(
            LogRedaction.url("https://example.com/cb?api_key=abc&page=2&Signature=xyz")
                == "https://example.com/cb?api_key=***&page=2&Signature=***")
    }

    @Test func leavesOrdinaryURLsAndTextAlone() {
        #expect(
            LogRedaction.url("https://example.com/path?q=swift&page=2") == "https://example.com/path?q=swift&page=2")
        #expect(LogRedaction.url("not a url") == "not a url")
        #expect(LogRedaction.url("https://example.com/?monkey=1&tokens=2") == "https://example.com/?monkey=1&tokens=2")
        #expect(
            LogRedaction.url("https://example.com/?accessToken=a&x-amz-signature=b&token=c")
                == "https://example.com/?accessToken=***&x-amz-signature=***&token=***")
    }
}
