import NIOCore
import NIOHTTP2

/// The handlers of one HTTP/2 stream: NIO's codec between the stream's frames and HTTP/1-style request and response
/// parts, so that the stream runs through the same ``HTTPConnectionHandler`` and state machine as an HTTP/1
/// connection. The codec stays once the stream becomes an event stream: it makes each write one DATA frame from the
/// shared bytes, and the stream's end an empty DATA frame with END_STREAM.
struct HTTP2StreamCodec: ConnectionCodec {
    func install(in pipeline: ChannelPipeline.SynchronousOperations, connection: some ChannelHandler) throws {
        try pipeline.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
        try pipeline.addHandler(connection)
    }

    func switchToStream(_ stream: some ChannelHandler, connection: ChannelHandlerContext) throws {
        let pipeline = connection.pipeline.syncOperations
        try pipeline.addHandler(stream)
        pipeline.removeHandler(context: connection, promise: nil)
    }
}
