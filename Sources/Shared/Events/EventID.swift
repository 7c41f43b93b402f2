import Foundation

extension UUID {
    /// A new random (version 4) event id from the system's generator. Foundation's `UUID()`
    /// opens and reads `/dev/urandom` on every call on Linux (~2.5 µs, three system calls); this
    /// takes two `getrandom` calls (~0.7 µs), and every create makes one.
    public static func newEventID() -> UUID {
        var generator = SystemRandomNumberGenerator()
        return .random(using: &generator)
    }
}
