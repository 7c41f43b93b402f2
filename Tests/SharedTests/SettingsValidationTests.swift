import SharedConfiguration
import SharedPostgres
import Testing

@Suite struct SettingsValidationTests {
    @Test func secondsOutsideTheirRangeAreRefusedBeforeTheyBecomeDurations() {
        for seconds in [-1, 0.05, 3601, .infinity, -.infinity, .nan, 1e300] {
            #expect(throws: (any Error).self, "\(seconds)") {
                try validateSeconds(seconds, in: 0.1...3600, option: "--shutdown-timeout")
            }
        }
        for seconds in [0.1, 10, 3600] {
            #expect(throws: Never.self) { try validateSeconds(seconds, in: 0.1...3600, option: "--shutdown-timeout") }
        }
    }

    @Test func aPostgresCallTimeoutOutsideItsRangeIsRefused() throws {
        var options = PostgresOptions()
        for seconds in [-1, 0, 0.05, 301, .infinity, .nan] {
            options.callTimeout = seconds
            #expect(throws: SettingError.self, "\(seconds)") { try options.breakerSettings() }
        }
        options.callTimeout = 15
        #expect(try options.breakerSettings().callTimeout == .seconds(15))
    }

    @Test func aShutdownTimeoutOfInfinityStopsTheCommandWithAMessage() {
        #expect(throws: (any Error).self) { try CommonOptions.parse(["--shutdown-timeout", "inf"]) }
        #expect(throws: Never.self) { try CommonOptions.parse(["--shutdown-timeout", "2.5"]) }
    }
}
