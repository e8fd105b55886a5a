import Heartbeat
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import SSEGateway

#if canImport(Glibc)
    import Glibc
#endif

/// Observes every stream from inside the gateway: when its socket first stopped taking bytes, and its
/// `SessionStream`, so a test can read the real socket's options.
final class StreamProbe: Middleware, Sendable {
    /// `SO_SNDBUF` for every stream, so that a stalled one becomes unwritable after little data rather than after
    /// the megabytes the kernel's autotuning would otherwise buffer.
    let sendBuffer: Int?

    init(sendBuffer: Int? = nil) {
        self.sendBuffer = sendBuffer
    }

    private let state = NIOLockedValueBox<
        (unwritableAt: [String: ContinuousClock.Instant], streams: [String: NIOLoopBound<SessionStream>])
    >(([:], [:]))

    func makeStreamFilter(for stream: SessionStream) -> (any StreamFilter)? {
        let id = stream.session.id
        let bound = NIOLoopBound(stream, eventLoop: stream.eventLoop)
        self.state.withLockedValue { $0.streams[id] = bound }
        if let sendBuffer = self.sendBuffer {
            // The channel is attached right after the filters are made.
            stream.eventLoop.execute {
                _ = bound.value.setSocketOption(
                    .init(level: .socket, name: .so_sndbuf), value: SocketOptionValue(sendBuffer))
            }
        }
        return Filter { [state] in
            state.withLockedValue { state in
                if state.unwritableAt[id] == nil { state.unwritableAt[id] = .now }
            }
        }
    }

    func unwritableAt(_ session: Session) -> ContinuousClock.Instant? {
        self.state.withLockedValue { $0.unwritableAt[session.id] }
    }

    /// Reads a socket option of `session`'s connection, on the server side.
    func socketOption(
        _ session: Session,
        level: NIOBSDSocket.OptionLevel,
        name: Int32
    ) async throws -> SocketOptionValue {
        let stream = try #require(self.state.withLockedValue { $0.streams[session.id] })
        return try await session.eventLoop.flatSubmit {
            stream.value.channel.getOption(
                ChannelOptions.Types.SocketOption(level: level, name: .init(rawValue: name)))
        }.get()
    }

    private final class Filter: StreamFilter {
        let onUnwritable: () -> Void

        init(onUnwritable: @escaping () -> Void) {
            self.onUnwritable = onUnwritable
        }

        func writabilityChanged(isWritable: Bool) {
            if !isWritable { self.onUnwritable() }
        }
    }
}

@Suite("Heartbeat on a live gateway")
struct HeartbeatLiveTests {
    static func heartbeat(_ modify: (inout HeartbeatMiddleware.Configuration) -> Void) -> HeartbeatMiddleware {
        var configuration = HeartbeatMiddleware.Configuration()
        configuration.comment = "ping"
        modify(&configuration)
        return HeartbeatMiddleware(configuration: configuration)
    }

    @Test func idleStreamGetsACommentEveryInterval() async throws {
        let heartbeat = Self.heartbeat { $0.interval = .milliseconds(200) }
        try await TestGateway.run(middleware: [heartbeat]) { _, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=a")
            let opened = ContinuousClock.now
            try await subscriber.client.waitFor(text: ": ping\n", occurrences: 1)
            let first = ContinuousClock.now
            try await subscriber.client.waitFor(text: ": ping\n", occurrences: 2)
            let second = ContinuousClock.now
            // The timer starts just before the opening comment leaves, so the first gap, seen from the client, is at
            // most the interval (less the time the opening took to arrive). Heartbeats are never early; on a busy
            // machine they may be seen late (exact bounds: HeartbeatEmbeddedTests, on a testing clock).
            #expect(
                (.milliseconds(100)...(.milliseconds(450))).contains(first - opened), "first after \(first - opened)")
            #expect((.milliseconds(150)...(.milliseconds(450))).contains(second - first), "gap \(second - first)")
            #expect(try await subscriber.body() == ":\n: ping\n: ping\n")
        }
        #expect(heartbeat.liveTimers == 0)
    }

    @Test func defaultCommentFromConfigurationIsABareColon() async throws {
        let configuration = try GatewayConfiguration(
            jsonString: """
                {"server": {"host": "127.0.0.1", "port": 0, "threads": 2},
                 "middleware": [{"use": "heartbeat", "interval": "100ms"}]}
                """
        )
        try await TestGateway.run(configuration: configuration) { server, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=a")
            #expect(server.metric("sse_heartbeat_timers_active") == 1)
            // The opening comment and at least one heartbeat (more when the test itself was kept waiting).
            try await subscriber.client.waitFor("a heartbeat") { bytes, _ in
                guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { return false }
                return ChunkedBody.decodePartial(bytes[end.upperBound...]).count >= 4
            }
            let body = try await subscriber.body()
            #expect(
                body == String(repeating: ":\n", count: body.count / 2), "only bare colons: \(body.debugDescription)")
        }
    }

    @Test func noCommentWhileEventsFlowFasterThanTheInterval() async throws {
        let heartbeat = Self.heartbeat { $0.interval = .milliseconds(300) }
        try await TestGateway.run(middleware: [heartbeat]) { _, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=a")
            let publisher = try await TestPublisher.connect(port: port)
            let start = ContinuousClock.now
            for index in 0..<20 {
                try await Task.sleep(until: start + .milliseconds(50 * index), clock: .continuous)
                try await publisher.publish([("topic", "a"), ("data", "e\(index)"), ("id", "e\(index)")])
            }
            try await subscriber.waitForEvents(20)
            let lastEvent = ContinuousClock.now
            #expect(try await subscriber.ids() == (0..<20).map { "e\($0)" })
            #expect(!(try await subscriber.body().contains(": ping")), "no heartbeat while events flow")
            // Once events stop, the heartbeat resumes an interval after the last one.
            try await subscriber.client.waitFor(text: ": ping\n")
            let gap = ContinuousClock.now - lastEvent
            #expect((.milliseconds(200)...(.milliseconds(600))).contains(gap), "heartbeat \(gap) after the last event")
        }
    }

    @Test func kernelOptionsAreSetOnTheStreamSocket() async throws {
        let heartbeat = Self.heartbeat {
            $0.deadPeerTimeout = .seconds(20)
            $0.tcpUserTimeout = .milliseconds(7500)
            var keepAlive = HeartbeatMiddleware.TCPKeepAlive()
            keepAlive.idle = .seconds(40)
            keepAlive.interval = .seconds(7)
            keepAlive.count = 4
            $0.tcpKeepAlive = keepAlive
        }
        let probe = StreamProbe()
        let recorder = ListenerRecorder()
        try await TestGateway.run(middleware: [heartbeat, probe, recorder]) { _, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=a")
            let session = try await recorder.nextSession()
            #if os(Linux)
                #expect(try await probe.socketOption(session, level: .tcp, name: TCP_USER_TIMEOUT) == 7500)
                #expect(try await probe.socketOption(session, level: .tcp, name: TCP_KEEPIDLE) == 40)
                #expect(try await probe.socketOption(session, level: .tcp, name: TCP_KEEPINTVL) == 7)
                #expect(try await probe.socketOption(session, level: .tcp, name: TCP_KEEPCNT) == 4)
                #expect(try await probe.socketOption(session, level: .socket, name: SO_KEEPALIVE) == 1)
            #endif
            _ = subscriber
        }
    }

    /// A client that stops reading fills its window and then the server's buffers; once the socket has stayed
    /// unwritable for `deadPeerTimeout` the session closes as `dead_peer`, while a reader on the same gateway
    /// keeps its latency.
    @Test func clientThatStopsReadingIsClosedAsDeadPeerWithinTheBound() async throws {
        let heartbeat = Self.heartbeat {
            $0.deadPeerTimeout = .milliseconds(200)
            // The kernel's own bound would close it too (also as dead_peer): off, to test this one.
            $0.tcpUserTimeout = nil
        }
        let probe = StreamProbe(sendBuffer: 16 * 1024)
        let recorder = ListenerRecorder()
        // Writability flips at 512 KiB held by the channel; the slow-consumer bound is 512 KiB more, which takes
        // this publishing rate (16 KiB per ~20 ms) well over twice the 200 ms bound.
        let configuration = GatewayConfiguration.testing { $0.streams.maxBufferedBytes = 1 << 20 }
        try await TestGateway.run(middleware: [heartbeat, probe, recorder], configuration: configuration) {
            _,
            port in
            let healthy = try await TestSubscriber.open(port: port, query: "topic=big")
            _ = try await recorder.nextSession()
            let stalled = try await TestSubscriber.open(port: port, query: "topic=big", receiveBuffer: 4096)
            let stalledSession = try await recorder.nextSession()
            let publisher = try await TestPublisher.connect(port: port)
            let latencies = try await Self.publishUntilClosed(
                stalledSession,
                publisher: publisher,
                healthy: healthy,
                pause: .milliseconds(10)
            )
            #expect(try await stalledSession.closeFuture.get() == .deadPeer)
            let unwritable = try #require(probe.unwritableAt(stalledSession))
            let closed = try #require(recorder.firstRun(for: stalledSession))
            #expect(
                (.milliseconds(190)...(.milliseconds(600))).contains(closed - unwritable),
                "closed \(closed - unwritable) after the socket stopped taking bytes"
            )
            Self.expectNormal(latencies)
            _ = stalled
        }
        #expect(heartbeat.liveTimers == 0)
    }

    /// A peer that keeps a zero window: the kernel gives up after `TCP_USER_TIMEOUT` (Linux ≥ 5.11 counts
    /// untransmitted data too) and the core closes the session as `dead_peer`, long before the 30 s
    /// application bound.
    @Test func kernelUserTimeoutClosesAPeerThatStopsReading() async throws {
        #if os(Linux)
            let heartbeat = Self.heartbeat {
                $0.deadPeerTimeout = .seconds(30)
                $0.tcpUserTimeout = .milliseconds(300)
            }
            let recorder = ListenerRecorder()
            let configuration = GatewayConfiguration.testing { $0.streams.maxBufferedBytes = 64 << 20 }
            try await TestGateway.run(middleware: [heartbeat, recorder], configuration: configuration) { _, port in
                let healthy = try await TestSubscriber.open(port: port, query: "topic=big")
                _ = try await recorder.nextSession()
                let stalled = try await TestSubscriber.open(port: port, query: "topic=big", receiveBuffer: 4096)
                let stalledSession = try await recorder.nextSession()
                let publisher = try await TestPublisher.connect(port: port)
                let start = ContinuousClock.now
                let latencies = try await Self.publishUntilClosed(
                    stalledSession,
                    publisher: publisher,
                    healthy: healthy,
                    pause: .milliseconds(10)
                )
                #expect(try await stalledSession.closeFuture.get() == .deadPeer)
                #expect(ContinuousClock.now - start < .seconds(10))
                Self.expectNormal(latencies)
                _ = stalled
            }
        #endif
    }

    /// Publishes 16 KiB events, each followed by `pause`, until `session` closes; returns how long each took to
    /// reach `healthy`.
    static func publishUntilClosed(
        _ session: Session,
        publisher: TestPublisher,
        healthy: TestSubscriber,
        pause: Duration
    ) async throws -> [Duration] {
        let payload = String(repeating: "x", count: 16 * 1024)
        var latencies: [Duration] = []
        var index = 0
        while !session.isClosed {
            try #require(index < 2000, "the stalled session was never closed")
            let marker = Array("end\(index)\n\n".utf8)
            let sent = ContinuousClock.now
            try await publisher.publish([("topic", "big"), ("data", payload + "end\(index)")])
            try await healthy.client.waitFor("event \(index)") { bytes, _ in
                bytes.suffix(64).firstRange(of: marker) != nil
            }
            latencies.append(ContinuousClock.now - sent)
            index += 1
            try await Task.sleep(for: pause)
        }
        return latencies
    }

    static func expectNormal(_ latencies: [Duration]) {
        let sorted = latencies.sorted()
        let median = sorted[sorted.count / 2]
        let worst = sorted.last!
        // A stalled peer must not hold the others up: their latency stays far below the dead-peer bound, even on a
        // machine busy enough to slow every delivery.
        #expect(median < .milliseconds(100), "median \(median) over \(sorted.count) events")
        #expect(worst < .milliseconds(500), "worst \(worst) over \(sorted.count) events")
    }
}
