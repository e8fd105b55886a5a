import NIOCore

/// Closes an HTTP/2 connection on an error that reaches the end of its pipeline. NIO's HTTP/2 handler sends `GOAWAY`
/// for a connection error (a peer breaking the protocol or its limits) and reports it; closing the connection is the
/// application's part, and left undone it would stay open.
final class CloseOnError: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
