import NIOCore

/// Tells the connection handler that bytes arrived, before the decoder turns them into request parts, so that an
/// idle connection's deadline becomes the head deadline as soon as a head starts.
final class ByteArrivalHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// The user event sent ahead of each read's bytes.
    struct Arrived: Sendable {}

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireUserInboundEventTriggered(Arrived())
        context.fireChannelRead(data)
    }
}
