import NIOConcurrencyHelpers
import NIOPosix
import SharedService

/// Draws QR images off the HTTP event loops, on NIO's shared thread pool, and at most
/// ``maximumAtOnce`` at a time: a 2048 px PNG takes tens of milliseconds of CPU, and a loop
/// drawing it would hold up every request behind it. Past the bound a request answers
/// `503 busy` with `Retry-After`, so a flood of large images costs its sender, not everyone.
final class QRCodeRenderer: Sendable {
    /// Images drawn or waiting at once. Default: 2 (the machine's cores).
    let maximumAtOnce: Int
    private let inFlight = NIOLockedValueBox(0)

    init(maximumAtOnce: Int = 2) {
        self.maximumAtOnce = maximumAtOnce
    }

    /// Runs `draw` on the thread pool, or throws `503 busy` when ``maximumAtOnce`` are under way.
    func render<Image: Sendable>(_ draw: @escaping @Sendable () throws -> Image) async throws -> Image {
        let admitted = inFlight.withLockedValue { count in
            guard count < maximumAtOnce else { return false }
            count += 1
            return true
        }
        guard admitted else {
            var busy = APIError(.serviceUnavailable, "busy", "too many QR codes are being drawn; try again")
            busy.headers[.retryAfter] = "1"
            throw busy
        }
        defer { inFlight.withLockedValue { $0 -= 1 } }
        return try await NIOThreadPool.singleton.runIfActive(draw)
    }
}
