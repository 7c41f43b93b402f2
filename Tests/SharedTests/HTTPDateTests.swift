import Foundation
import Testing

@testable import SharedService

@Suite struct HTTPDateTests {
    @Test func datesAreWrittenAsRFC9110sIMFFixdate() {
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(1_798_761_599) == "Thu, 31 Dec 2026 23:59:59 GMT")
    }

    @Test func theCurrentValueIsTodays() {
        let expected = HTTPDate.format(Int(Date().timeIntervalSince1970))
        let now = HTTPDate.now
        // Read across a second's turn, the two differ by that second alone.
        #expect(now == expected || now.dropLast(6) == expected.dropLast(6))
    }
}
