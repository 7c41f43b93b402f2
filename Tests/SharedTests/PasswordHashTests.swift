import Foundation
import SharedPasswords
import Testing

/// Link passwords: argon2id hashes through libargon2, what a password may be, and what a hash
/// read from elsewhere may cost.
@Suite struct PasswordHashTests {
    @Test func aHashVerifiesItsPasswordAndNoOther() async throws {
        let workers = PasswordWorkers.setting
        let hash = try await workers.run { try PasswordHash.make("correct horse") }
        #expect(hash.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"), "\(hash)")
        #expect(!hash.contains("correct horse"))
        #expect(try await workers.run { PasswordHash.verify("correct horse", against: hash) })
        #expect(try await workers.run { !PasswordHash.verify("correct horsE", against: hash) })
        let again = try PasswordHash.make("correct horse")
        #expect(again != hash, "a fresh salt each time")
    }

    @Test func aHashThatWouldCostTooMuchOrIsNotArgon2idIsRefused() throws {
        let hash = try PasswordHash.make("secret1")
        #expect(PasswordHash.isAcceptable(hash))
        for forged in [
            hash.replacingOccurrences(of: "m=19456", with: "m=4194304"),
            hash.replacingOccurrences(of: "t=2", with: "t=1000"),
            hash.replacingOccurrences(of: "p=1", with: "p=64"),
            hash.replacingOccurrences(of: "argon2id", with: "argon2i"),
            hash.replacingOccurrences(of: "v=19", with: "v=16"),
            "", "$argon2id$v=19$m=19456,t=2$salt$hash", String(repeating: "$", count: 300),
        ] {
            #expect(!PasswordHash.isAcceptable(forged), "\(forged)")
            #expect(!PasswordHash.verify("secret1", against: forged))
        }
    }

    @Test func aPasswordHasALengthAndNoControlCharacters() {
        #expect(PasswordHash.problem(with: "secret") == nil)
        #expect(PasswordHash.problem(with: "short") != nil)
        #expect(PasswordHash.problem(with: String(repeating: "x", count: 129)) != nil)
        #expect(PasswordHash.problem(with: "pass\nword") != nil)
        #expect(PasswordHash.problem(with: "pässwörd ✓") == nil)
    }

    @Test func workWhoseTurnComesWithinTheWaitWaitsForIt() async throws {
        // Two a second, a bucket of two, and a wait of a second: two more turns within it.
        let workers = PasswordWorkers(threads: 1, queueLimit: 8, niceness: 0, perSecond: 2, maximumWait: .seconds(1))
        let start = ContinuousClock.now
        let outcomes = await withTaskGroup(of: (called: Duration, started: Duration?).self) { group in
            for _ in 0..<5 {
                group.addTask {
                    let called = ContinuousClock.now - start
                    let started = try? await workers.run { ContinuousClock.now - start }
                    return (called, started)
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let started = outcomes.compactMap(\.started).sorted()
        try #require(started.count >= 4, "the turns within the wait are waited for, not refused: \(outcomes)")
        #expect(started[3] >= .milliseconds(950), "the fourth waits a second for its turn: \(started)")
        if outcomes.map(\.called).max()! < .milliseconds(400) {
            #expect(started.count == 4, "a turn beyond the wait is refused at once: \(outcomes)")
        }
    }

    @Test func workBeyondEitherBoundIsRefusedNotQueued() async throws {
        let perSecond = PasswordWorkers(threads: 1, queueLimit: 100, niceness: 5, perSecond: 1)
        let start = ContinuousClock.now
        var started = 0
        for _ in 0..<6 {
            if (try? await perSecond.run { 1 }) != nil { started += 1 }
        }
        let elapsed = ContinuousClock.now - start
        // One a second: the first at once, then one more for each second the loop took.
        #expect(started >= 1 && started <= 1 + Int(elapsed.components.seconds), "\(started) in \(elapsed)")
        #expect(perSecond.refusesNow() || elapsed > .seconds(1), "a caller can refuse before it starts anything")
        try await Task.sleep(for: .milliseconds(1100))
        #expect((try? await perSecond.run { 1 }) != nil, "the bucket fills again")

        let workers = PasswordWorkers(threads: 1, queueLimit: 8, niceness: 0, perSecond: nil)
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<(workers.queueLimit + 20) {
                group.addTask {
                    do {
                        _ = try await workers.run { try PasswordHash.make("flooding") }
                        return true
                    } catch {
                        return false
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.contains(false), "past the bound, work is refused")
        #expect(outcomes.filter { $0 }.count >= 1)
    }
}
