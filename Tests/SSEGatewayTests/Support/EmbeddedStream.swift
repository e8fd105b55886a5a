import Logging
import NIOCore
import NIOEmbedded

@testable import SSEGateway

/// An `SSEStreamHandler` on an `EmbeddedChannel`, with a hub and session on the same embedded loop.
struct EmbeddedStream {
    let loop: EmbeddedEventLoop
    let hub: Hub
    /// The hub's metrics, shared by its streams' sessions.
    let metrics: GatewayMetrics
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
        return try await Self.make(topics: [topic], hub: hub, loop: loop, metrics: metrics, outer: outer)
    }

    /// Another stream on the same hub and loop as this one, subscribed to `topics`.
    func another(topics: [String]) async throws -> EmbeddedStream {
        try await Self.make(topics: topics, hub: self.hub, loop: self.loop, metrics: self.metrics, outer: [])
    }

    /// The stream's handler, to send through it as middleware does.
    var handler: SSEStreamHandler {
        get throws { try self.channel.pipeline.syncOperations.handler(type: SSEStreamHandler.self) }
    }

    private static func make(
        topics: [String],
        hub: Hub,
        loop: EmbeddedEventLoop,
        metrics: GatewayMetrics,
        outer: [any ChannelHandler & Sendable]
    ) async throws -> EmbeddedStream {
        let session = Session.testing(topics: topics, eventLoop: loop, metrics: metrics)
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
        return EmbeddedStream(loop: loop, hub: hub, metrics: metrics, session: session, channel: channel)
    }
}
