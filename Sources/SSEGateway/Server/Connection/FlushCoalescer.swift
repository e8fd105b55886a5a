import NIOCore

/// Turns the flushes an HTTP/2 connection receives within one turn of its event loop into one.
///
/// Each stream of a connection flushes after its write, and NIO's multiplexer passes every such flush to the
/// connection: an event fanned out to 100 streams of one connection would cost 100 frame encodings, TLS records and
/// `write` calls. Held here until the end of the loop's current task, they leave as one.
final class FlushCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = NIOAny

    private var scheduled = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
    }

    /// What is held leaves before the connection closes (the streams' last frames, shutdown's `GOAWAY`).
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if self.scheduled {
            self.scheduled = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        guard !self.scheduled else { return }
        self.scheduled = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = bound.value
            guard handler.scheduled else { return }
            handler.scheduled = false
            context.flush()
        }
    }
}
