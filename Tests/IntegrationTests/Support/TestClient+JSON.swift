import HTTPTypes
import HummingbirdTesting
import NIOCore

extension TestClientProtocol {
    /// Sends `body` as the API takes JSON: with `Content-Type: application/json`, unless
    /// `headers` name a content type of their own (to test that one).
    func executeJSON(
        uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer
    ) async throws -> TestResponse {
        var headers = headers
        if headers[.contentType] == nil { headers[.contentType] = "application/json" }
        return try await executeRequest(uri: uri, method: method, headers: headers, body: body)
    }
}
