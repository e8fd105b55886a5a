import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
    import Glibc
#endif

struct TestTimeout: Error, CustomStringConvertible {
    var what: String
    var received: String
    var description: String { "timed out waiting for \(self.what); received so far:\n\(self.received)" }
}

/// A real TCP client over loopback that records every byte it receives and lets a test await a condition on
/// them (with a deadline), instead of sleeping.
final class RawClient: Sendable {
    let channel: any Channel
    private let collector: Collector

    private init(channel: any Channel, collector: Collector) {
        self.channel = channel
        self.collector = collector
    }

    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    static func connect(port: Int, host: String = "127.0.0.1", receiveBuffer: Int? = nil) async throws -> RawClient {
        let collector = Collector()
        var bootstrap = ClientBootstrap(group: Self.group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
        if let receiveBuffer {
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBuffer))
                .channelOption(.autoRead, value: false)
        }
        let channel = try await bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
        }.connect(host: host, port: port).get()
        return RawClient(channel: channel, collector: collector)
    }

    func send(_ text: String) async throws {
        var buffer = self.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        try await self.channel.writeAndFlush(buffer)
    }

    func send(bytes: [UInt8]) async throws {
        try await self.channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// Sends a request with `Host` and the given extra header lines.
    func sendRequest(_ method: String, _ target: String, headers: [String] = [], body: String? = nil) async throws {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for header in headers { text += header + "\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n"
        if let body { text += body }
        try await self.send(text)
    }

    /// Everything received so far.
    var received: [UInt8] {
        get async throws {
            try await self.channel.eventLoop.submit { self.collector.bytes }.get()
        }
    }

    var text: String {
        get async throws { String(decoding: try await self.received, as: UTF8.self) }
    }

    /// Waits until the received bytes satisfy `condition`, or fails after `timeout`.
    @discardableResult
    func waitFor(
        _ what: String,
        timeout: TimeAmount = .seconds(5),
        _ condition: @escaping @Sendable ([UInt8], Bool) -> Bool
    ) async throws -> String {
        let bytes = try await self.collector.wait(
            on: self.channel.eventLoop,
            what: what,
            timeout: timeout,
            condition: condition
        ).get()
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Waits until the received text contains `needle` (counting `occurrences` times).
    @discardableResult
    func waitFor(text needle: String, occurrences: Int = 1, timeout: TimeAmount = .seconds(5)) async throws -> String {
        try await self.waitFor("\(occurrences)× \(needle.debugDescription)", timeout: timeout) { bytes, _ in
            String(decoding: bytes, as: UTF8.self).components(separatedBy: needle).count - 1 >= occurrences
        }
    }

    /// Waits until the server closes the connection.
    @discardableResult
    func waitForClose(timeout: TimeAmount = .seconds(5)) async throws -> String {
        try await self.waitFor("connection close", timeout: timeout) { _, closed in closed }
    }

    /// Reads one complete non-streaming HTTP response and removes it from the buffer.
    func readResponse(timeout: TimeAmount = .seconds(5)) async throws -> HTTPTestResponse {
        try await self.waitFor("a complete response", timeout: timeout) { bytes, closed in
            HTTPTestResponse.parse(bytes, closed: closed) != nil
        }
        return try await self.channel.eventLoop.submit {
            let (response, used) = HTTPTestResponse.parse(self.collector.bytes, closed: self.collector.closed)!
            self.collector.bytes.removeFirst(used)
            return response
        }.get()
    }

    func read() {
        self.channel.read()
    }

    /// Closes with FIN.
    func close() async throws {
        try await self.channel.close()
    }

    /// Closes with RST (SO_LINGER 0).
    func reset() async throws {
        let provider = try #require(self.channel as? any SocketOptionProvider)
        try await provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        try await self.channel.close()
    }
}

private final class Collector: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: all state is touched on the channel's event loop only.
    typealias InboundIn = ByteBuffer

    var bytes: [UInt8] = []
    var closed = false
    private var waiters: [(condition: ([UInt8], Bool) -> Bool, promise: EventLoopPromise<[UInt8]>)] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        self.bytes.append(contentsOf: buffer.readableBytesView)
        self.check()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.closed = true
        self.check()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func check() {
        var remaining: [(condition: ([UInt8], Bool) -> Bool, promise: EventLoopPromise<[UInt8]>)] = []
        for waiter in self.waiters {
            if waiter.condition(self.bytes, self.closed) {
                waiter.promise.succeed(self.bytes)
            } else {
                remaining.append(waiter)
            }
        }
        self.waiters = remaining
    }

    func wait(
        on eventLoop: any EventLoop,
        what: String,
        timeout: TimeAmount,
        condition: @escaping @Sendable ([UInt8], Bool) -> Bool
    ) -> EventLoopFuture<[UInt8]> {
        eventLoop.flatSubmit {
            let promise = eventLoop.makePromise(of: [UInt8].self)
            if condition(self.bytes, self.closed) {
                promise.succeed(self.bytes)
                return promise.futureResult
            }
            self.waiters.append((condition, promise))
            let timer = eventLoop.scheduleTask(in: timeout) {
                promise.fail(TestTimeout(what: what, received: String(decoding: self.bytes, as: UTF8.self)))
            }
            promise.futureResult.whenComplete { _ in timer.cancel() }
            return promise.futureResult
        }
    }
}
