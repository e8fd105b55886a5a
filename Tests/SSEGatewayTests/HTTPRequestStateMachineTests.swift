import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import SSEGateway

@Suite("HTTP request state machine")
struct HTTPRequestStateMachineTests {
    private func head(_ method: HTTPMethod, _ uri: String, keepAlive: Bool = true) -> HTTPRequestHead {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: uri)
        if !keepAlive { head.headers.add(name: "Connection", value: "close") }
        return head
    }

    @Test func publishBodyBeyondTheLimitIs413AndCloses() {
        var machine = HTTPRequestStateMachine(limits: .init(maxBodyBytes: 10))
        let result1 = machine.receivedHead(
            self.head(.POST, "/.well-known/mercure"), route: .publish(mount: 0), rejection: nil)
        #expect(result1 == .none)
        let result2 = machine.receivedBody(ByteBuffer(string: "123456"))
        #expect(result2 == .none)
        guard case .respond(let response, let close) = machine.receivedBody(ByteBuffer(string: "789012")) else {
            Issue.record("expected a response")
            return
        }
        #expect(response.status == .payloadTooLarge)
        #expect(close)
        let result3 = machine.receivedEnd()
        #expect(result3 == .none)
    }

    @Test func completeRequestIsHandedOverWithItsBody() {
        var machine = HTTPRequestStateMachine(limits: .init(maxBodyBytes: 100))
        let head = self.head(.POST, "/.well-known/mercure")
        _ = machine.receivedHead(head, route: .publish(mount: 0), rejection: nil)
        _ = machine.receivedBody(ByteBuffer(string: "topic="))
        _ = machine.receivedBody(ByteBuffer(string: "a"))
        let result4 = machine.receivedEnd() == .handle(head, .publish(mount: 0), body: ByteBuffer(string: "topic=a"))
        #expect(result4)
        let result5 = machine.responseSent(keepAlive: true)
        #expect(result5)
    }

    @Test func rejectedRequestIsAnsweredAfterItsBodyAndKeepsTheConnection() {
        var machine = HTTPRequestStateMachine(limits: .init(maxBodyBytes: 100))
        let rejection = HTTPRequestStateMachine.Response(status: .notFound, body: "no")
        let result6 = machine.receivedHead(self.head(.POST, "/x"), route: .notFound, rejection: rejection)
        #expect(result6 == .none)
        let result7 = machine.receivedBody(ByteBuffer(string: "ignored"))
        #expect(result7 == .none)
        let result8 = machine.receivedEnd() == .respond(rejection, close: false)
        #expect(result8)
        let result9 = machine.responseSent(keepAlive: true)
        #expect(result9)
    }

    @Test func connectionCloseRequestIsNotKeptAlive() {
        var machine = HTTPRequestStateMachine(limits: .init(maxBodyBytes: 100))
        _ = machine.receivedHead(self.head(.GET, "/healthz", keepAlive: false), route: .health, rejection: nil)
        _ = machine.receivedEnd()
        let keptAlive = machine.responseSent(keepAlive: true)
        #expect(!keptAlive)
    }

    @Test func timerBeforeTheFirstHeadIs408AfterwardsASilentClose() {
        var first = HTTPRequestStateMachine(limits: .init(maxBodyBytes: 100))
        guard case .respond(let response, true) = first.timerFired() else {
            Issue.record("expected 408")
            return
        }
        #expect(response.status == .requestTimeout)

        var later = HTTPRequestStateMachine(limits: .init(maxBodyBytes: 100))
        _ = later.receivedHead(self.head(.GET, "/healthz"), route: .health, rejection: nil)
        _ = later.receivedEnd()
        let result10 = later.responseSent(keepAlive: true)
        #expect(result10)
        let result11 = later.timerFired()
        #expect(result11 == .close)
    }

    @Test func decoderErrorsMapToStatuses() {
        var overflow = HTTPRequestStateMachine(limits: .init(maxBodyBytes: 100))
        guard case .respond(let tooLarge, true) = overflow.decodingFailed(HTTPParserError.headerOverflow) else {
            Issue.record("expected 431")
            return
        }
        #expect(tooLarge.status == .requestHeaderFieldsTooLarge)
        var malformed = HTTPRequestStateMachine(limits: .init(maxBodyBytes: 100))
        guard case .respond(let bad, true) = malformed.decodingFailed(HTTPParserError.invalidMethod) else {
            Issue.record("expected 400")
            return
        }
        #expect(bad.status == .badRequest)
    }

    @Test func streamingIgnoresTimers() {
        var machine = HTTPRequestStateMachine(limits: .init(maxBodyBytes: 100))
        _ = machine.receivedHead(
            self.head(.GET, "/.well-known/mercure?topic=a"), route: .subscribe(mount: 0), rejection: nil)
        _ = machine.receivedEnd()
        machine.startedStreaming()
        #expect(machine.isStreaming)
        let result12 = machine.timerFired()
        #expect(result12 == .none)
    }
}

@Suite("HTTP handler timers on an embedded clock")
struct HTTPServerHandlerTimerTests {
    private func makeChannel(
        _ modify: (inout GatewayConfiguration) -> Void
    ) throws -> (EmbeddedChannel, EmbeddedEventLoop) {
        var configuration = GatewayConfiguration()
        modify(&configuration)
        let loop = EmbeddedEventLoop()
        let metrics = GatewayMetrics()
        let server = ServerContext(
            configuration: configuration,
            hub: Hub(eventLoops: [loop], configuration: configuration.hub, metrics: metrics),
            metrics: metrics,
            mounts: HubMounts(
                mounts: [HubMount(path: Route.hubPath, middleware: [])], indexByPath: [Route.hubPath: 0], warnings: []),
            shutdownHandlers: ShutdownHandlerRegistry(),
            logger: .init(label: "test")
        )
        let channel = EmbeddedChannel(loop: loop)
        try GatewayServer.configure(channel: channel, server: server)
        return (channel, loop)
    }

    private func outbound(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += String(buffer: buffer)
        }
        return text
    }

    @Test func incompleteHeadGets408AtTheTimeout() async throws {
        let (channel, loop) = try self.makeChannel { $0.server.requestHeaderTimeout = .seconds(10) }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
        try channel.writeInbound(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHost: x\r\n"))
        loop.advanceTime(by: .seconds(9))
        #expect(try self.outbound(channel).isEmpty)
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(1))
        #expect(try self.outbound(channel).hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        #expect(!channel.isActive)
    }

    @Test func idleKeepAliveClosesAtTheTimeoutWithoutAResponse() async throws {
        let (channel, loop) = try self.makeChannel { $0.server.keepAliveTimeout = .seconds(30) }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
        try channel.writeInbound(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(try self.outbound(channel).hasPrefix("HTTP/1.1 200 OK\r\n"))
        loop.advanceTime(by: .seconds(29))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(1))
        #expect(try self.outbound(channel).isEmpty)
        #expect(!channel.isActive)
    }
}
