import NIOCore
import NIOHTTP1

/// The HTTP/1.1 handlers a connection has until it becomes an event stream: NIO's request decoder and response
/// encoder, and the marker of byte arrivals that the head deadline needs.
///
/// A stream needs none of them: once its head is out, ``switchToStream(_:connection:)`` leaves only the stream's
/// handler, which writes pre-framed bytes, so an idle stream costs no codec memory and a write no encoding.
struct HTTPCodec: ConnectionCodec {
    let encoder = HTTPResponseEncoder()
    let decoder: ByteToMessageHandler<HTTPRequestDecoder>
    let arrivals = ByteArrivalHandler()

    init(limits: NIOHTTPDecoderLimitConfiguration) {
        self.decoder = ByteToMessageHandler(
            HTTPRequestDecoder(
                leftOverBytesStrategy: .dropBytes,
                informationalResponseStrategy: .drop,
                limitConfiguration: limits
            )
        )
    }

    /// Adds the codec and `connection` (the handler that acts on decoded requests) to an empty pipeline.
    func install(in pipeline: ChannelPipeline.SynchronousOperations, connection: some ChannelHandler) throws {
        try pipeline.addHandler(self.arrivals)
        try pipeline.addHandler(self.encoder)
        try pipeline.addHandler(self.decoder)
        try pipeline.addHandler(connection)
    }

    /// Replaces the codec and the connection handler (whose context is `connection`) with `stream`.
    func switchToStream(_ stream: some ChannelHandler, connection: ChannelHandlerContext) throws {
        let pipeline = connection.pipeline.syncOperations
        // The encoder goes first, so that the stream's head and first bytes, written as it is added, pass raw.
        pipeline.removeHandler(self.encoder, promise: nil)
        try pipeline.addHandler(stream)
        pipeline.removeHandler(self.decoder, promise: nil)
        pipeline.removeHandler(self.arrivals, promise: nil)
        pipeline.removeHandler(context: connection, promise: nil)
        // A stream reads only to notice its client leave. NIO keeps up to this many read buffers per connection
        // for its life, so a request that took several reads would leave the idle stream holding all of them.
        try connection.channel.syncOptions?.setOption(.maxMessagesPerRead, value: 1)
    }
}
