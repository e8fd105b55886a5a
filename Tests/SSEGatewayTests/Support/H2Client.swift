import NIOConcurrencyHelpers
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL

/// An HTTP/2 client for the tests, on NIO's own HTTP/2 stack: several streams on one connection, each of which can
/// be reset on its own, and the connection-level frames (GOAWAY) recorded. Over TLS (ALPN `h2`, any certificate
/// accepted) or in cleartext with prior knowledge.
final class H2Client: Sendable {
    let channel: any Channel
    private let multiplexer: NIOHTTP2Handler.StreamMultiplexer
    /// GOAWAY frames received, with their last stream id.
    let goAways = NIOLockedValueBox<[HTTP2StreamID]>([])
    let goAwayCount = EventCounter()
    /// Reaches 1 when the connection has closed.
    let closed = EventCounter()

    private init(channel: any Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer) {
        self.channel = channel
        self.multiplexer = multiplexer
    }

    static func connect(port: Int, tls: Bool) async throws -> H2Client {
        let recorder = RootFrameRecorder()
        let (channel, multiplexer) = try await ClientBootstrap(group: RawClient.group)
            .connectTimeout(.seconds(5))
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if tls {
                        var configuration = TLSConfiguration.makeClientConfiguration()
                        configuration.certificateVerification = .none
                        configuration.applicationProtocols = ["h2"]
                        let context = try NIOSSLContext(configuration: configuration)
                        try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                    }
                    let multiplexer = try pipeline.configureHTTP2Pipeline(
                        mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
                    ) { $0.eventLoop.makeSucceededVoidFuture() }
                    try pipeline.addHandler(recorder)
                    return (channel, multiplexer)
                }
            }
        let client = H2Client(channel: channel, multiplexer: multiplexer)
        recorder.client.withLockedValue { $0 = client }
        channel.closeFuture.whenComplete { _ in client.closed.increment() }
        return client
    }

    /// Opens a stream with `method path` and `headers`, and `body` when given (then ended); a GET ends its side at
    /// once.
    func open(
        _ path: String,
        method: String = "GET",
        headers: [(String, String)] = [],
        body: String? = nil
    ) async throws -> H2Stream {
        let stream = H2Stream()
        let channel = try await self.multiplexer.createStreamChannel { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(stream.handler) }
        }.get()
        stream.channel.withLockedValue { $0 = channel }
        var block = HPACKHeaders([
            (":method", method), (":path", path), (":scheme", "https"), (":authority", "127.0.0.1"),
        ])
        block.add(contentsOf: headers)
        channel.write(HTTP2Frame.FramePayload.headers(.init(headers: block, endStream: body == nil)), promise: nil)
        if let body {
            let data = HTTP2Frame.FramePayload.Data(data: .byteBuffer(ByteBuffer(string: body)), endStream: true)
            channel.write(HTTP2Frame.FramePayload.data(data), promise: nil)
        }
        channel.flush()
        return stream
    }

    func close() async {
        try? await self.channel.close()
    }

    /// Records the connection-level frames the HTTP/2 handler passes on.
    private final class RootFrameRecorder: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTP2Frame
        let client = NIOLockedValueBox<H2Client?>(nil)

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = Self.unwrapInboundIn(data)
            if case .goAway(let last, _, _) = frame.payload, let client = self.client.withLockedValue({ $0 }) {
                client.goAways.withLockedValue { $0.append(last) }
                client.goAwayCount.increment()
            }
        }
    }
}

/// One stream of an ``H2Client``: its response head, body and end, to be awaited.
final class H2Stream: Sendable {
    struct State {
        var status: String?
        var headers: HPACKHeaders?
        var body = ""
        var ended = false
        var reset: HTTP2ErrorCode?
        var closed = false
    }

    let state = NIOLockedValueBox(State())
    /// Counts every change, so that a wait can look again after each.
    private let changes = EventCounter()
    let channel = NIOLockedValueBox<(any Channel)?>(nil)
    fileprivate var handler: Handler { Handler(stream: self) }

    var status: String? { self.state.withLockedValue { $0.status } }
    var body: String { self.state.withLockedValue { $0.body } }

    /// Waits until `condition` holds for the stream's state, at most `timeout`.
    @discardableResult
    func waitFor(
        _ what: String, timeout: TimeAmount = .seconds(10), _ condition: (State) -> Bool
    ) async throws -> State {
        while true {
            let seen = self.changes.count
            let state = self.state.withLockedValue { $0 }
            if condition(state) { return state }
            try await self.changes.wait(for: seen + 1, what, timeout: timeout)
        }
    }

    /// Waits until the body contains `text`.
    func waitFor(text: String, timeout: TimeAmount = .seconds(10)) async throws {
        try await self.waitFor("\(text.debugDescription) on the stream", timeout: timeout) { $0.body.contains(text) }
    }

    /// Resets the stream (RST_STREAM with CANCEL), as a browser does when an `EventSource` is closed.
    func reset() {
        guard let channel = self.channel.withLockedValue({ $0 }) else { return }
        channel.eventLoop.execute {
            channel.writeAndFlush(HTTP2Frame.FramePayload.rstStream(.cancel), promise: nil)
        }
    }

    fileprivate func update(_ change: (inout State) -> Void) {
        self.state.withLockedValue(change)
        self.changes.increment()
    }

    fileprivate final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTP2Frame.FramePayload
        let stream: H2Stream

        init(stream: H2Stream) { self.stream = stream }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch Self.unwrapInboundIn(data) {
            case .headers(let headers):
                self.stream.update { state in
                    if state.headers == nil {
                        state.headers = headers.headers
                        state.status = headers.headers.first(name: ":status")
                    }
                    if headers.endStream { state.ended = true }
                }
            case .data(let data):
                guard case .byteBuffer(let bytes) = data.data else { return }
                self.stream.update { state in
                    state.body += String(buffer: bytes)
                    if data.endStream { state.ended = true }
                }
            case .rstStream(let code):
                self.stream.update { $0.reset = code }
            default:
                break
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.stream.update { $0.closed = true }
            context.fireChannelInactive()
        }
    }
}
