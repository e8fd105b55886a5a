import Foundation
import Heartbeat
import NIOCore
import Testing
import Timeout

@testable import SSEGateway

@Suite("Timeout on a live gateway")
struct TimeoutLiveTests {
    static let lastEventText = "event: reconnect\nretry: 2000\ndata: bye\n\n"

    @Test func idleStreamClosesWithItsLastEventWhileHeartbeatsFlow() async throws {
        let configuration = try GatewayConfiguration(
            jsonString: """
                {"server": {"host": "127.0.0.1", "port": 0, "threads": 2},
                 "middleware": [
                   {"use": "heartbeat", "interval": "100ms"},
                   {"use": "timeout", "idle": "400ms", "maxLifetime": "0s",
                    "lastEvent": {"retry": 2000, "type": "reconnect", "data": "bye"}}
                 ]}
                """
        )
        try await TestGateway.run(configuration: configuration) { server, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=a")
            #expect(server.metric("sse_timeout_timers_active") == 1)
            let publisher = try await TestPublisher.connect(port: port)
            // Timed from before the publish, so the measured idle time is never shorter than the real one.
            let lastEvent = ContinuousClock.now
            try await publisher.publish([("topic", "a"), ("data", "hello"), ("id", "e1")])
            try await subscriber.waitForEvents(1)
            let received = try await subscriber.client.waitForClose()
            let idle = ContinuousClock.now - lastEvent
            #expect((.milliseconds(400)...(.milliseconds(800))).contains(idle), "closed \(idle) after the last event")
            #expect(received.hasSuffix("0\r\n\r\n"), "the chunked body ends cleanly")
            let body = try await subscriber.body()
            #expect(body.hasSuffix(Self.lastEventText))
            // Heartbeats kept coming while the stream was idle: they are not events.
            #expect(body.components(separatedBy: "\n:\n").count - 1 >= 2, "heartbeats in \(body.debugDescription)")
            #expect(try await subscriber.ids() == ["e1"], "the last event carries no id")
            #expect(server.renderMetrics().contains("sse_sessions_closed_total{reason=\"timeout\"} 1"))
        }
    }

    @Test func lifetimesAreSpreadOverEightyToOneHundredPercent() async throws {
        var configuration = TimeoutMiddleware.Configuration()
        configuration.maxLifetime = .milliseconds(400)
        configuration.lastEvent = ServerSentEvent(type: "reconnect", retry: 2000, data: "bye")
        let timeout = TimeoutMiddleware(configuration: configuration)
        let sessions = 200
        let lifetimes = try await TestGateway.run(middleware: [timeout]) { _, port in
            try await withThrowingTaskGroup(of: Duration.self) { group in
                // Opened one after the other so that each opening is timed without waiting for the others; the
                // closes are awaited concurrently.
                for _ in 0..<sessions {
                    // Timed from before the request, so a measured lifetime is never shorter than the real one.
                    let opened = ContinuousClock.now
                    let subscriber = try await TestSubscriber.open(port: port, query: "topic=a")
                    group.addTask {
                        try await subscriber.client.waitForClose()
                        let lifetime = ContinuousClock.now - opened
                        #expect(try await subscriber.body().hasSuffix(Self.lastEventText))
                        return lifetime
                    }
                }
                return try await group.reduce(into: [Duration]()) { $0.append($1) }
            }
        }
        let milliseconds = lifetimes.map {
            Double($0.components.attoseconds) / 1e15 + Double($0.components.seconds) * 1e3
        }
        let mean = milliseconds.reduce(0, +) / Double(milliseconds.count)
        let deviation = (milliseconds.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(milliseconds.count))
            .squareRoot()
        let shortest = milliseconds.min()!
        let longest = milliseconds.max()!
        let summary =
            "n=\(milliseconds.count) min=\(Int(shortest)) max=\(Int(longest)) mean=\(Int(mean)) sd=\(Int(deviation)) ms"
        #expect(milliseconds.count == sessions)
        // 320–400 ms. Measured from before the request, a lifetime is never shorter than the real one; on a busy
        // machine a close can be observed late (the exact bounds are asserted on a testing clock in
        // TimeoutEmbeddedTests).
        #expect(shortest >= 320 && longest <= 650, "\(summary)")
        // Uniform over 80 ms has a standard deviation of 23 ms; a fixed lifetime would give a few ms.
        #expect(longest - shortest >= 50, "\(summary)")
        #expect(deviation >= 12, "\(summary)")
        #expect(milliseconds.filter { $0 < 360 }.count >= sessions / 5, "\(summary)")
        #expect(milliseconds.filter { $0 >= 360 }.count >= sessions / 5, "\(summary)")
        #expect(timeout.liveTimers == 0)
    }

    /// Sessions closed every way (client FIN, idle timeout, shutdown) leave no timer behind.
    @Test func timersAreReleasedAfterManySessions() async throws {
        var heartbeatConfiguration = HeartbeatMiddleware.Configuration()
        heartbeatConfiguration.interval = .milliseconds(50)
        let heartbeat = HeartbeatMiddleware(configuration: heartbeatConfiguration)
        var timeoutConfiguration = TimeoutMiddleware.Configuration()
        timeoutConfiguration.idle = .seconds(1)
        let timeout = TimeoutMiddleware(configuration: timeoutConfiguration)
        let recorder = ListenerRecorder()
        try await TestGateway.run(middleware: [heartbeat, timeout, recorder]) { server, port in
            let leaving = try await Self.open(100, port: port)
            #expect(heartbeat.liveTimers == 100 && timeout.liveTimers == 100)
            for subscriber in leaving { try await subscriber.client.close() }
            let idle = try await Self.open(100, port: port)
            for subscriber in idle { try await subscriber.client.waitForClose() }
            let staying = try await Self.open(100, port: port)
            var sessions: [Session] = []
            for _ in 0..<300 { sessions.append(try await recorder.nextSession()) }
            // Await these while the loops still run; shutdown waits for the others.
            let closed = sessions.filter(\.isClosed)
            #expect(closed.count == 200)
            for session in closed { _ = try await session.closeFuture.get() }
            await server.shutdown()
            let metrics = server.renderMetrics()
            #expect(metrics.contains("sse_sessions_closed_total{reason=\"client_disconnected\"} 100"))
            #expect(metrics.contains("sse_sessions_closed_total{reason=\"timeout\"} 100"))
            #expect(metrics.contains("sse_sessions_closed_total{reason=\"server_shutdown\"} 100"))
            _ = staying
        }
        #expect(heartbeat.liveTimers == 0)
        #expect(timeout.liveTimers == 0)
    }

    static func open(_ count: Int, port: Int) async throws -> [TestSubscriber] {
        try await withThrowingTaskGroup(of: TestSubscriber.self) { group in
            for _ in 0..<count {
                group.addTask { try await TestSubscriber.open(port: port, query: "topic=a") }
            }
            return try await group.reduce(into: [TestSubscriber]()) { $0.append($1) }
        }
    }
}
