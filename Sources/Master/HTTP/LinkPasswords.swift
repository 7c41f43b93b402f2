import SharedPasswords
import SharedService

/// A link's password as a create or an edit sets it: checked, then hashed (argon2id) off the
/// event loops. Only the hash is kept; the password goes no further than this request.
enum LinkPasswords {
    /// The hash of `password`: `400 invalid_password` for one out of range, `503 busy` (with
    /// `Retry-After`) while the hashing workers are full.
    static func hash(_ password: String) async throws -> String {
        if let problem = PasswordHash.problem(with: password) {
            throw APIError(.badRequest, "invalid_password", "'password': \(problem)", field: "password")
        }
        do {
            return try await PasswordWorkers.setting.run { try PasswordHash.make(password) }
        } catch is PasswordWorkers.Busy {
            var busy = APIError(.serviceUnavailable, "busy", "too many passwords are being set; try again shortly")
            busy.headers[.retryAfter] = "1"
            throw busy
        }
    }
}
