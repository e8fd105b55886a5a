import Logging
import NIOConcurrencyHelpers
import Testing

@testable import SSEGateway

/// `GatewayServer.shutdown()` runs the same configured sequence as a signal does under `serve`.
@Suite("shutdown() of an embedded gateway", .serialized)
struct ShutdownEmbeddedTests {
    static func server(
        grace: Duration,
        drain: Duration,
        middleware: [any Middleware] = []
    ) async throws -> (GatewayServer, Int) {
        var logger = Logger(label: "test-gateway")
        logger.logLevel = .critical
        let configuration = GatewayConfiguration.testing {
            $0.shutdown.readinessGrace = grace
            $0.shutdown.drainTimeout = drain
            $0.shutdown.notice.retryMin = .milliseconds(100)
            $0.shutdown.notice.retryMax = .seconds(2)
        }
        let server = try GatewayServer(configuration: configuration, middleware: middleware, logger: logger)
        try await server.start()
        return (server, try #require(server.localAddress?.port))
    }

    @Test func drainEndsWhenTheLastClientLeavesAndHandlersRunInReverse() async throws {
        let (server, port) = try await Self.server(grace: .milliseconds(200), drain: .seconds(20))
        let ran = NIOLockedValueBox<[String]>([])
        try server.registerShutdownHandler(name: "first") { ran.withLockedValue { $0.append("first") } }
        try server.registerShutdownHandler(name: "second") { ran.withLockedValue { $0.append("second") } }
        #expect(throws: ShutdownHandlerRegistry.DuplicateName.self) {
            try server.registerShutdownHandler(name: "first") {}
        }
        var subscribers: [TestSubscriber] = []
        for _ in 0..<3 { subscribers.append(try await TestSubscriber.open(port: port, query: "topic=a")) }

        let started = ContinuousClock.now
        let stopping = Task { await server.shutdown() }
        // Each client leaves as a browser would on the notice; the drain must end with the last of them.
        for subscriber in subscribers {
            let received = try await subscriber.client.waitFor(text: "event: shutdown", timeout: .seconds(5))
            #expect(received.contains("data: server shutting down"))
            try await subscriber.client.close()
        }
        let code = await stopping.value
        let elapsed = ContinuousClock.now - started

        #expect(code == .clean)
        #expect(server.shutdownExitCode == .clean)
        #expect(elapsed < .seconds(3), "the drain ended with the last client, not its 20 s budget: \(elapsed)")
        #expect(ran.withLockedValue { $0 } == ["second", "first"])
        // A later call waits for the same run and reports the same outcome, without running handlers again.
        #expect(await server.shutdown() == .clean)
        #expect(ran.withLockedValue { $0 } == ["second", "first"])
    }

    @Test func cancellingTheCallerCutsTheSequenceShort() async throws {
        let recorder = ListenerRecorder()
        let (server, port) = try await Self.server(grace: .seconds(20), drain: .seconds(20), middleware: [recorder])
        let subscriber = try await TestSubscriber.open(port: port, query: "topic=a")
        let session = try await recorder.nextSession()

        let started = ContinuousClock.now
        let stopping = Task { await server.shutdown() }
        stopping.cancel()
        let code = await stopping.value
        let elapsed = ContinuousClock.now - started

        #expect(code == .fastExit)
        #expect(elapsed < .seconds(5), "well before the 20 s grace: \(elapsed)")
        // Cut short, the session still closes as a shutdown, and its stream ends. (Its loop has stopped, so its
        // `closeFuture` can no longer be awaited.)
        #expect(session.closeReason == .serverShutdown)
        #expect(recorder.records(for: session) == ["first", "throws", "last"])
        _ = try await subscriber.client.waitForClose()
        await #expect(throws: (any Error).self) { try await RawClient.connect(port: port) }
    }
}
