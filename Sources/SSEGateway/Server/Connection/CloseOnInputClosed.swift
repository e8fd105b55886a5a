import NIOCore

/// Closes an HTTP/2 connection when its client half-closes it. The listener allows half-closure so that an HTTP/1
/// request sent before a FIN is still answered; an HTTP/2 client that sends FIN has left, and every stream it carried
/// must end at once with it.
final class CloseOnInputClosed: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
