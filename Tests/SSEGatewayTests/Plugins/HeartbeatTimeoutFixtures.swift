import Logging
import NIOCore
import NIOEmbedded

@testable import SSEGateway

/// A stream with its middleware filters on an `NIOAsyncTestingChannel`, whose clock only moves when the test
/// advances it.
///
/// The thread-safe testing loop (rather than `EmbeddedEventLoop`) is needed because will-close listeners run in a
/// `Task`, off the loop, and hop back to it.
struct TimerStream {
    let loop: NIOAsyncTestingEventLoop
    let channel: NIOAsyncTestingChannel
    let session: Session
    let hub: Hub

    /// Opens the stream at the loop's current time; `middleware` make its filters, outermost first.
    static func open(middleware: [any Middleware], topic: String = "a") async throws -> TimerStream {
        let loop = NIOAsyncTestingEventLoop()
        let metrics = GatewayMetrics()
        let hub = Hub.testing(eventLoops: [loop], metrics: metrics)
        let session = Session.testing(topic: topic, eventLoop: loop, metrics: metrics)
        let channel = NIOAsyncTestingChannel(loop: loop)
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
        try await loop.executeInContext {
            let handler = SSEStreamHandler(
                session: session,
                hub: hub,
                head: StreamHead(framing: .closeDelimited, extra: [:]),
                maxBufferedBytes: 1 << 20
            )
            let stream = SessionStream(session: session, channel: channel)
            handler.link(stream)
            handler.setFilters(middleware.compactMap { $0.makeStreamFilter(for: stream) })
            try channel.pipeline.syncOperations.addHandler(handler)
        }
        return TimerStream(loop: loop, channel: channel, session: session, hub: hub)
    }

    /// Everything written since the last call, head included on the first.
    func written() async throws -> String {
        var text = ""
        while let buffer = try await self.channel.readOutbound(as: ByteBuffer.self) {
            text += String(buffer: buffer)
        }
        return text
    }

    /// Publishes an event to the stream's topic through the hub and lets the loop deliver it.
    func publish(id: String, data: String = "x", topic: String = "a") async {
        self.hub.publishCommitted(PublishRequest(topics: [topic], data: data, id: id))
        await self.loop.run()
    }

    /// Moves the clock forward, running the timers that come due.
    func advance(by amount: TimeAmount) async {
        await self.loop.advanceTime(by: amount)
    }

    /// The socket stops (or starts) taking bytes.
    func setWritable(_ writable: Bool) async throws {
        self.channel.isWritable = writable
        try await self.loop.executeInContext { self.channel.pipeline.fireChannelWritabilityChanged() }
    }
}
