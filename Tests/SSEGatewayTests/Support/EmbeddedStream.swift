import Logging
import NIOCore
import NIOEmbedded

@testable import SSEGateway

/// An `SSEStreamHandler` on an `EmbeddedChannel`, with a hub and session on the same embedded loop.
struct EmbeddedStream {
    let loop: EmbeddedEventLoop
    let hub: Hub
    let session: Session
    let channel: EmbeddedChannel

    /// `outer` handlers sit between the stream handler and the socket, e.g. to fail writes.
    static func make(
        topic: String = "a",
        outer: [any ChannelHandler & Sendable] = [],
        writeDelay: Duration = .zero
    ) async throws -> EmbeddedStream {
        let loop = EmbeddedEventLoop()
        let metrics = GatewayMetrics()
        let hub = Hub.testing(eventLoops: [loop], metrics: metrics, writeDelay: writeDelay)
        let session = Session.testing(topic: topic, eventLoop: loop, metrics: metrics)
        let channel = EmbeddedChannel(loop: loop)
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
        for handler in outer {
            try channel.pipeline.syncOperations.addHandler(handler)
        }
        try channel.pipeline.syncOperations.addHandler(
            SSEStreamHandler(
                session: session,
                hub: hub,
                head: StreamHead(framing: .chunked, extra: [:]),
                maxBufferedBytes: 1024
            )
        )
        return EmbeddedStream(loop: loop, hub: hub, session: session, channel: channel)
    }
}
