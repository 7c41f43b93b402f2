import CArgon2
import Foundation

/// A link password's hash: argon2id (RFC 9106) through libargon2, in the PHC string form
/// `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`, which holds its own parameters and salt.
/// The only user of libargon2.
///
/// Hashing and verifying are slow by design (about 20-40 ms of one core each): call them through
/// ``PasswordWorkers``, never on an event loop.
public enum PasswordHash {
    /// The parameters new hashes get: OWASP's first argon2id choice (19 MiB, 2 passes, 1 lane).
    public static let memoryKiB: UInt32 = 19_456
    public static let iterations: UInt32 = 2
    public static let lanes: UInt32 = 1
    /// Bytes of random salt and of hash.
    static let saltLength = 16
    static let hashLength = 32

    /// The most a hash read from elsewhere (an event) may ask for: a forged one cannot make a
    /// replica spend more than this on one attempt.
    public static let maximumMemoryKiB: UInt32 = 65_536
    public static let maximumIterations: UInt32 = 10
    public static let maximumLanes: UInt32 = 4

    /// Characters a password may have.
    public static let lengths = 6...128

    /// Why a password cannot be used, for the person who chose it; nil when it can.
    public static func problem(with password: String) -> String? {
        guard lengths.contains(password.count) else {
            return "a password is \(lengths.lowerBound) to \(lengths.upperBound) characters"
        }
        guard !password.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            return "a password has no control characters"
        }
        return nil
    }

    /// The hash of `password` with a fresh random salt.
    public static func make(_ password: String) throws -> String {
        var salt = [UInt8](repeating: 0, count: saltLength)
        var generator = SystemRandomNumberGenerator()
        for index in salt.indices { salt[index] = generator.next() }
        let bytes = Array(password.utf8)
        let length = argon2_encodedlen(iterations, memoryKiB, lanes, UInt32(saltLength), UInt32(hashLength), Argon2_id)
        var encoded = [CChar](repeating: 0, count: length)
        let status = argon2id_hash_encoded(
            iterations, memoryKiB, lanes, bytes, bytes.count, salt, salt.count, hashLength, &encoded, length)
        guard status == ARGON2_OK.rawValue else { throw PasswordHashError(status: status) }
        return String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether `password` is the one `encoded` was made from; false for a hash that is not
    /// argon2id within the bounds above.
    public static func verify(_ password: String, against encoded: String) -> Bool {
        guard isAcceptable(encoded) else { return false }
        let bytes = Array(password.utf8)
        return argon2id_verify(encoded, bytes, bytes.count) == ARGON2_OK.rawValue
    }

    /// Whether `encoded` is an argon2id hash (version 19) whose cost stays within the bounds.
    public static func isAcceptable(_ encoded: String) -> Bool {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard encoded.utf8.count <= 256, parts.count == 6, parts[0].isEmpty, parts[1] == "argon2id",
            parts[2] == "v=19"
        else { return false }
        var cost: [Substring: UInt32] = [:]
        for item in parts[3].split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, let value = UInt32(pair[1]) else { return false }
            cost[pair[0]] = value
        }
        guard let memory = cost["m"], let time = cost["t"], let lanes = cost["p"], cost.count == 3 else {
            return false
        }
        return (8...maximumMemoryKiB).contains(memory) && (1...maximumIterations).contains(time)
            && (1...maximumLanes).contains(lanes)
    }
}

/// libargon2 refused to hash (out of memory, say).
public struct PasswordHashError: Error, CustomStringConvertible {
    let status: Int32
    public var description: String {
        "argon2id failed: " + String(cString: argon2_error_message(status))
    }
}
