import HummingbirdCore
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose next request head has not fully arrived within a time limit,
/// counted from when the connection opened or its previous answer ended. A client that sends
/// its headers a byte at a time (slowloris) or sends nothing at all loses its socket.
///
/// Requests only move a timestamp: one timer per connection checks it and reschedules itself,
/// so a busy keep-alive connection costs no timer per request on the redirect path.
final class RequestHeadTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let timeout: TimeAmount
    /// Since when the connection waits for a request head; nil while requests are in flight.
    private var waitingSince: NIODeadline?
    private var check: Scheduled<Void>?
    /// Requests whose head arrived and whose answer has not ended (more than one when pipelined).
    private var requestsInFlight = 0

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startWaiting(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopChecking()
    }

    func channelActive(context: ChannelHandlerContext) {
        startWaiting(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopChecking()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            requestsInFlight += 1
            waitingSince = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { answerEnded(context) }
        context.write(data, promise: promise)
    }

    /// The fast path's requests, read and answered ahead of the HTTP codec, count alike.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event as? FastPathActivity {
        case .headArrived:
            requestsInFlight += 1
            waitingSince = nil
        case .answerEnded:
            answerEnded(context)
        case nil:
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func answerEnded(_ context: ChannelHandlerContext) {
        requestsInFlight = max(0, requestsInFlight - 1)
        if requestsInFlight == 0 { startWaiting(context) }
    }

    private func startWaiting(_ context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        waitingSince = now
        if check == nil { scheduleCheck(context, at: now + timeout) }
    }

    /// At `deadline`: closes the connection if it has waited for a head since `timeout` ago,
    /// otherwise checks again when its current wait would run out.
    private func scheduleCheck(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        check = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.check = nil
            guard let since = handler.waitingSince else { return }
            if NIODeadline.now() >= since + handler.timeout {
                context.close(promise: nil)
            } else {
                handler.scheduleCheck(context, at: since + handler.timeout)
            }
        }
    }

    private func stopChecking() {
        check?.cancel()
        check = nil
        waitingSince = nil
    }
}
