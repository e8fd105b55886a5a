import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small SSE backend for the upstream-route tests: serves its events after the request's `Last-Event-ID`, pushes
/// new ones to every open stream, records when each connection opens and closes and what it asked, and can stop and
/// start again on the same port.
final class UpstreamSSEServer: Sendable {
    struct Connection: Sendable {
        var opened: ContinuousClock.Instant
        var closed: ContinuousClock.Instant?
        var uri: String
        var headers: HTTPHeaders
    }

    struct State {
        var events: [(id: String, text: String)] = []
        var connections: [Connection] = []
        var open: [Int: any Channel] = [:]
        var answersHTML = false
        var floods = false
        /// Event bytes the streams have written in flood mode.
        var flooded = 0
        var server: (any Channel)?
    }

    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let state = NIOLockedValueBox(State())
    /// Counts the streams that have closed, for tests to await.
    let closes = EventCounter()
    private let boundPort = NIOLockedValueBox(0)

    /// The port, the same across restarts.
    var port: Int { self.boundPort.withLockedValue { $0 } }

    static func start() async throws -> UpstreamSSEServer {
        let server = UpstreamSSEServer()
        try await server.listen(port: 0)
        return server
    }

    private func listen(port: Int) async throws {
        let channel = try await ServerBootstrap(group: Self.group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(server: self))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        self.boundPort.withLockedValue { $0 = channel.localAddress!.port! }
        self.state.withLockedValue { $0.server = channel }
    }

    /// Stops listening and closes every stream, as a backend that restarts does.
    func stop() async throws {
        let (server, open) = self.state.withLockedValue { state in
            defer {
                state.server = nil
                state.open = [:]
            }
            return (state.server, Array(state.open.values))
        }
        for channel in open { try? await channel.close() }
        try await server?.close()
    }

    /// Listens again on the same port.
    func restart() async throws {
        try await self.listen(port: self.port)
    }

    func answerHTML(_ html: Bool) {
        self.state.withLockedValue { $0.answersHTML = html }
    }

    /// Adds an event (its text as the backend frames it) and sends it to every open stream.
    func publish(id: String, text: String) {
        let open = self.state.withLockedValue { state in
            state.events.append((id, text))
            return Array(state.open.values)
        }
        for channel in open {
            channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: text))), promise: nil)
        }
    }

    /// Makes the streams opened from now on send 1 KB events as fast as their connection takes them.
    func flood(_ flood: Bool) {
        self.state.withLockedValue { $0.floods = flood }
    }

    /// Event bytes written in flood mode so far.
    var flooded: Int { self.state.withLockedValue { $0.flooded } }

    var connections: [Connection] { self.state.withLockedValue { $0.connections } }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let server: UpstreamSSEServer
        var index: Int?
        var flooding = false
        var pumping = false
        var sequence = 0

        init(server: UpstreamSSEServer) { self.server = server }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .head(let request) = Self.unwrapInboundIn(data) else { return }
            let channel = context.channel
            let (html, backlog, index, flood) = self.server.state.withLockedValue { state in
                let index = state.connections.count
                state.connections.append(Connection(opened: .now, uri: request.uri, headers: request.headers))
                if !state.answersHTML { state.open[index] = channel }
                let after = request.headers.first(name: "last-event-id")
                let start = after.flatMap { id in state.events.firstIndex { $0.id == id }.map { $0 + 1 } } ?? 0
                return (state.answersHTML, state.events[start...].map(\.text).joined(), index, state.floods)
            }
            self.index = index
            if html {
                let head = HTTPResponseHead(
                    version: .http1_1, status: .notFound, headers: ["Content-Type": "text/html", "Content-Length": "9"])
                context.write(Self.wrapOutboundOut(.head(head)), promise: nil)
                context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "not here\n")))), promise: nil)
                context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
                return
            }
            let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Type": "text/event-stream"])
            context.write(Self.wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(
                Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: ": hello\n\n" + backlog)))), promise: nil)
            if flood {
                self.flooding = true
                self.pump(context: context)
            }
        }

        func channelWritabilityChanged(context: ChannelHandlerContext) {
            if self.flooding, context.channel.isWritable { self.pump(context: context) }
            context.fireChannelWritabilityChanged()
        }

        /// Writes events until the connection's buffer is above its high-water mark. Not re-entered from the
        /// writability changes its own writes cause: a chunk must not be written inside another.
        private func pump(context: ChannelHandlerContext) {
            guard !self.pumping else { return }
            self.pumping = true
            defer { self.pumping = false }
            let data = String(repeating: "x", count: 1000)
            var written = 0
            // A flush that empties the buffer makes the channel writable again without a later callback.
            while context.channel.isWritable && context.channel.isActive {
                while context.channel.isWritable && context.channel.isActive {
                    self.sequence += 1
                    let event = ByteBuffer(string: "id: f\(self.sequence)\ndata: \(data)\n\n")
                    written += event.readableBytes
                    context.write(Self.wrapOutboundOut(.body(.byteBuffer(event))), promise: nil)
                }
                context.flush()
                self.server.state.withLockedValue { $0.flooded += written }
                written = 0
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            if let index = self.index {
                self.server.state.withLockedValue { state in
                    state.connections[index].closed = .now
                    state.open[index] = nil
                }
                self.server.closes.increment()
            }
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
