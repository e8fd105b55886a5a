import NIOCore

/// The protocol handlers between a connection's bytes and its ``HTTPConnectionHandler``, and how they make way for
/// an event stream once its head is decided.
protocol ConnectionCodec {
    /// Adds the codec and `connection` (the handler that acts on decoded requests) to an empty pipeline.
    func install(in pipeline: ChannelPipeline.SynchronousOperations, connection: some ChannelHandler) throws

    /// Replaces the connection handler (whose context is `connection`), and what the stream does not need, with
    /// `stream`.
    func switchToStream(_ stream: some ChannelHandler, connection: ChannelHandlerContext) throws
}
