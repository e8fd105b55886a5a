import NIOCore

/// Tells cleartext HTTP/2 with prior knowledge (h2c) from HTTP/1.1 on one plain listener by the connection's first
/// bytes: HTTP/2's preface, `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, starts no valid HTTP/1.1 request. Once decided, it
/// sets up the protocol's handlers, passes on what it held, and leaves the pipeline.
///
/// Written here because NIO decides HTTP/2 only by TLS's ALPN or an HTTP/1.1 `Upgrade`, and proxies that speak h2c
/// to their backends (Envoy, HAProxy) send the preface at once. A connection that sends nothing decisive within
/// `timeout` is closed, as an HTTP/1.1 connection without a request head would be.
final class HTTP2PriorKnowledgeDetector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    private let timeout: TimeAmount
    private let configure: (any Channel, _ isHTTP2: Bool) throws -> Void
    private var received: ByteBuffer?
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount, configure: @escaping (any Channel, _ isHTTP2: Bool) throws -> Void) {
        self.timeout = timeout
        self.configure = configure
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.arm(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.arm(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = Self.unwrapInboundIn(data)
        if var held = self.received {
            held.writeBuffer(&bytes)
            bytes = held
        }
        let count = min(bytes.readableBytes, Self.preface.count)
        let matches = bytes.readableBytesView.prefix(count).elementsEqual(Self.preface.prefix(count))
        if matches && count < Self.preface.count {
            self.received = bytes
            return
        }
        self.received = nil
        do {
            try self.configure(context.channel, matches)
        } catch {
            context.close(promise: nil)
            return
        }
        // The new handlers follow this one: hand them the bytes, then leave.
        context.fireChannelRead(Self.wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func arm(context: ChannelHandlerContext) {
        guard self.timer == nil else { return }
        let channel = context.channel
        self.timer = context.eventLoop.scheduleTask(in: self.timeout) {
            channel.close(promise: nil)
        }
    }
}
