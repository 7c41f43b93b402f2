import Foundation
import SharedService
import Testing
@testable import Master
import SharedJSON

/// The body of `PATCH /api/links/<code>`: left out keeps, `null` clears, a value is checked as
/// on create.
@Suite struct LinkEditDecodingTests {
    private func edit(_ json: String) throws -> LinkChange {
        try JSONDecoder().decode(LinkEdit.self, from: Data(json.utf8))
            .validated(now: Date(timeIntervalSince1970: 1_800_000_000))
    }

    private func problem(_ json: String) -> String? {
        do {
            _ = try edit(json)
            return nil
        } catch let error as APIError {
            return error.code
        } catch {
            return "not an API error: \(error)"
        }
    }

    @Test func tellsLeftOutFromNullFromAValue() throws {
        let change = try edit(#"{"url":" https://e.com/x ","max_clicks":null,"tags":["a-1","b_2"]}"#)
        #expect(change.url == "https://e.com/x")
        #expect(change.expiresAt == .keep)
        #expect(change.maxClicks == .clear)
        #expect(change.tags == ["a-1", "b_2"])
        let expiry = try edit(#"{"expires_at":"2030-01-01T00:00:00Z","max_clicks":3}"#)
        #expect(expiry.expiresAt == .set(try RFC3339Date("2030-01-01T00:00:00Z")))
        #expect(expiry.maxClicks == .set(3) && expiry.url == nil && expiry.tags == nil)
        #expect(try edit(#"{"expires_at":null}"#).expiresAt == .clear)
    }

    @Test func refusesWhatCreateRefusesAndWhatNoEditMeans() {
        #expect(problem(#"{"url":"javascript:alert(1)"}"#) == "unsupported_scheme")
        #expect(problem(#"{"url":null}"#) == "missing_url")
        #expect(problem(#"{"expires_at":"2020-01-01T00:00:00Z"}"#) == "invalid_expires_at")
        #expect(problem(#"{"max_clicks":-1}"#) == "invalid_max_clicks")
        #expect(problem(#"{"tags":["x","x"]}"#) == "invalid_tags")
        #expect(problem(#"{"tags":["a","b","c","d","e","f","g","h","i","j","k"]}"#) == "invalid_tags")
        #expect(problem(#"{"tags":[""]}"#) == "invalid_tags")
        #expect(problem(#"{"tags":null}"#) == "invalid_tags")
        #expect(problem(#"{"alias":"new"}"#) == "unknown_field")
        #expect(problem("{}") == "empty_edit")
    }

    @Test func ifMatchNamesARevision() throws {
        #expect(try LinksAPIController.revision(ifMatch: "\"3\"") == 3)
        #expect(try LinksAPIController.revision(ifMatch: "W/\"12\"") == 12)
        #expect(try LinksAPIController.revision(ifMatch: " 5 ") == 5)
        #expect(try LinksAPIController.revision(ifMatch: "*") == nil)
        for bad in ["", "\"\"", "\"0\"", "abc", "\"-1\"", "99999999999999999999", "\"1\" \"2\""] {
            #expect(throws: APIError.self, "\(bad)") { try LinksAPIController.revision(ifMatch: bad) }
        }
    }
}

private func RFC3339Date(_ text: String) throws -> Date {
    try Date(text, strategy: .iso8601)
}
