import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import SSEGateway

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Session close and will-close listeners")
struct SessionLifecycleTests {
    static let expectedOrder = ["first", "throws", "last"]

    @Test func clientFINRunsListenersInOrderOnceWithin50ms() async throws {
        let recorder = ListenerRecorder()
        try await TestGateway.run(middleware: [recorder]) { server, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=a")
            let session = try await recorder.nextSession()
            try await subscriber.client.close()
            let closedAt = ContinuousClock.now
            let reason = try await session.closeFuture.get()
            #expect(reason == .clientDisconnected)
            #expect(recorder.records(for: session) == Self.expectedOrder)
            #expect(recorder.reasons(for: session) == [.clientDisconnected])
            let ranAt = try #require(recorder.firstRun(for: session))
            #expect(ranAt - closedAt < .milliseconds(50), "listeners ran \(ranAt - closedAt) after the client left")
            #expect(server.renderMetrics().contains("sse_close_listener_failures_total 1"))
            #expect(server.renderMetrics().contains("sse_sessions_closed_total{reason=\"client_disconnected\"} 1"))
        }
    }

    @Test func clientRSTIsNoticedAtOnce() async throws {
        let recorder = ListenerRecorder()
        try await TestGateway.run(middleware: [recorder]) { _, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=a")
            let session = try await recorder.nextSession()
            try await subscriber.client.reset()
            let closedAt = ContinuousClock.now
            let reason = try await session.closeFuture.get()
            #expect(reason == .clientDisconnected)
            #expect(recorder.records(for: session) == Self.expectedOrder)
            let ranAt = try #require(recorder.firstRun(for: session))
            #expect(ranAt - closedAt < .milliseconds(50))
        }
    }

    @Test func serverShutdownClosesEverySessionOnce() async throws {
        let recorder = ListenerRecorder()
        try await TestGateway.run(middleware: [recorder]) { server, port in
            var sessions: [Session] = []
            var subscribers: [TestSubscriber] = []
            for index in 0..<5 {
                subscribers.append(try await TestSubscriber.open(port: port, query: "topic=t\(index)"))
                sessions.append(try await recorder.nextSession())
            }
            await server.shutdown()
            for session in sessions {
                #expect(session.closeReason == .serverShutdown)
                #expect(recorder.records(for: session) == Self.expectedOrder)
            }
            for subscriber in subscribers {
                let received = try await subscriber.client.waitForClose()
                #expect(received.hasSuffix("0\r\n\r\n"), "the chunked body should end cleanly")
            }
        }
    }

    @Test func slowConsumerIsClosedAndOthersGetEverything() async throws {
        let recorder = ListenerRecorder()
        try await TestGateway.run(
            middleware: [recorder], configuration: .testing { $0.streams.maxBufferedBytes = 64 * 1024 }
        ) {
            _,
            port in
            let healthy = try await TestSubscriber.open(port: port, query: "topic=big")
            let healthySession = try await recorder.nextSession()
            let stalled = try await TestSubscriber.open(port: port, query: "topic=big", receiveBuffer: 4096)
            let stalledSession = try await recorder.nextSession()
            let publisher = try await TestPublisher.connect(port: port)
            let payload = String(repeating: "x", count: 16 * 1024)
            var published = 0
            while !stalledSession.isClosed && published < 2000 {
                try await publisher.publish([("topic", "big"), ("data", payload), ("id", "e\(published)")])
                published += 1
            }
            #expect(try await stalledSession.closeFuture.get() == .slowConsumer)
            #expect(recorder.records(for: stalledSession) == Self.expectedOrder)
            try await healthy.waitForEvents(published, timeout: .seconds(20))
            #expect(try await healthy.ids() == (0..<published).map { "e\($0)" })
            #expect(!healthySession.isClosed)
            _ = stalled
        }
    }

    @Test func slowListenerIsCutOffAndTheNextStillRuns() async throws {
        let recorder = ListenerRecorder(slowListener: true)
        try await TestGateway.run(
            middleware: [recorder],
            configuration: .testing { $0.streams.closeListenerTimeout = .milliseconds(200) }
        ) { server, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=a")
            let session = try await recorder.nextSession()
            let start = ContinuousClock.now
            try await subscriber.client.close()
            _ = try await session.closeFuture.get()
            let elapsed = ContinuousClock.now - start
            #expect(recorder.records(for: session) == ["first", "throws", "slow", "last"])
            #expect(elapsed >= .milliseconds(200))
            #expect(elapsed < .seconds(5))
            #expect(server.renderMetrics().contains("sse_close_listener_failures_total 2"))
        }
    }

    @Test func listenerAddedAfterCloseRunsAtOnceAndRemovalReportsState() async throws {
        let recorder = ListenerRecorder()
        try await TestGateway.run(middleware: [recorder]) { _, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=a")
            let session = try await recorder.nextSession()
            let handle = session.addWillCloseListener { _, _ in }
            #expect(session.removeWillCloseListener(handle))
            #expect(!session.removeWillCloseListener(handle))
            try await subscriber.client.close()
            #expect(try await session.closeFuture.get() == .clientDisconnected)
            let (stream, continuation) = AsyncStream.makeStream(of: CloseReason.self)
            session.addWillCloseListener { _, reason in continuation.yield(reason) }
            var iterator = stream.makeAsyncIterator()
            #expect(await iterator.next() == .clientDisconnected)
        }
    }
}

/// Keeps every session that passes the connect phase, so a test can await their ends.
final class SessionCollector: Middleware {
    let sessions = NIOLockedValueBox<[Session]>([])
    func connect(_ session: Session) async throws {
        self.sessions.withLockedValue { $0.append(session) }
    }
}

@Suite("Nothing is left behind")
struct SessionCleanupTests {
    @Test func manySessionsOpenAndCloseAndTheHubIsEmptyAgain() async throws {
        let collector = SessionCollector()
        try await TestGateway.run(middleware: [collector]) { server, port in
            for round in 0..<10 {
                var subscribers: [TestSubscriber] = []
                for index in 0..<50 {
                    let query = index % 2 == 0 ? "topic=t\(index)&topic=*" : "topic=a%7Bx%7D&topic=t\(round)"
                    subscribers.append(try await TestSubscriber.open(port: port, query: query))
                }
                for (index, subscriber) in subscribers.enumerated() {
                    if index % 2 == 0 {
                        try await subscriber.client.close()
                    } else {
                        try await subscriber.client.reset()
                    }
                }
            }
            let sessions = collector.sessions.withLockedValue { $0 }
            #expect(sessions.count == 500)
            for session in sessions {
                #expect(try await session.closeFuture.get() == .clientDisconnected)
            }
            for shard in server.hub.shards {
                // A round trip through each loop runs every close callback queued before it.
                let (tracked, registrations) = try await shard.eventLoop.submit {
                    (shard.sessions.count, shard.registrationCount)
                }.get()
                #expect(tracked == 0)
                #expect(registrations == 0)
            }
            #expect(server.openConnectionCount == 0)
            let metrics = server.renderMetrics()
            #expect(metrics.contains("sse_sessions_active 0.0"))
            #expect(metrics.contains("sse_sessions_closed_total{reason=\"client_disconnected\"} 500"))
        }
    }
}

/// Closes the channel when a write reaches it, as NIO does when a socket write fails.
private final class FailingWriteHandler: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = ByteBuffer
    let armed = NIOLockedValueBox(false)
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if self.armed.withLockedValue({ $0 }) {
            promise?.fail(IOError(errnoCode: EPIPE, reason: "write"))
            context.close(promise: nil)
        } else {
            context.write(data, promise: promise)
        }
    }
}

@Suite("Write failures on an embedded channel")
struct WriteFailureTests {
    @Test func epipeErrorClosesWithWriteFailed() async throws {
        let stream = try await EmbeddedStream.make()
        let head = try stream.channel.readOutbound(as: ByteBuffer.self)
        let text = head.map { String(buffer: $0) } ?? ""
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"), "\(text)")
        #expect(text.hasSuffix("Transfer-Encoding: chunked\r\n\r\n"), "\(text)")
        stream.channel.pipeline.fireErrorCaught(IOError(errnoCode: EPIPE, reason: "write"))
        #expect(stream.session.closeReason == .writeFailed)
        #expect(!stream.channel.isActive)
    }

    @Test func aWriteThatClosesTheChannelIsReportedAsWriteFailed() async throws {
        let failing = FailingWriteHandler()
        let stream = try await EmbeddedStream.make(outer: [failing])
        failing.armed.withLockedValue { $0 = true }
        stream.hub.publishCommitted(PublishRequest(topics: ["a"], data: "x"))
        stream.loop.run()
        #expect(stream.session.closeReason == .writeFailed)
        #expect(!stream.channel.isActive)
    }
}
