import Heartbeat
import NIOCore
import Testing

@testable import SSEGateway
@testable import Timeout

@Suite("Timeout filter on a testing clock")
struct TimeoutEmbeddedTests {
    static let lastEvent = ServerSentEvent(type: "reconnect", retry: 2000, data: "bye")
    static let lastEventText = "event: reconnect\nretry: 2000\ndata: bye\n\n"

    @Test(arguments: [(0.0, 800), (0.25, 850), (1.0, 1000)])
    func lifetimeEndsAtTheJitteredDeadline(random: Double, expectedMilliseconds: Int64) async throws {
        var configuration = TimeoutMiddleware.Configuration()
        configuration.maxLifetime = .seconds(1)
        configuration.lastEvent = Self.lastEvent
        let timeout = TimeoutMiddleware(configuration: configuration, random: { random })
        let stream = try await TimerStream.open(middleware: [timeout])
        _ = try await stream.written()
        #expect(timeout.liveTimers == 1)
        await stream.advance(by: .milliseconds(expectedMilliseconds) - .nanoseconds(1))
        #expect(!stream.session.isClosed)
        await stream.advance(by: .nanoseconds(1))
        try #require(stream.session.closeReason == .timeout)
        #expect(try await stream.written() == Self.lastEventText)
        #expect(timeout.liveTimers == 0)
        _ = try await stream.session.closeFuture.get()
        #expect(timeout.liveTimers == 0)
    }

    @Test func idleCountsEventsButNotHeartbeats() async throws {
        var configuration = TimeoutMiddleware.Configuration()
        configuration.idle = .milliseconds(300)
        configuration.maxLifetime = nil
        configuration.lastEvent = Self.lastEvent
        let timeout = TimeoutMiddleware(configuration: configuration)
        var heartbeatConfiguration = HeartbeatMiddleware.Configuration()
        heartbeatConfiguration.interval = .milliseconds(120)
        heartbeatConfiguration.comment = "ping"
        let heartbeat = HeartbeatMiddleware(configuration: heartbeatConfiguration)
        let stream = try await TimerStream.open(middleware: [heartbeat, timeout])
        _ = try await stream.written()
        await stream.advance(by: .milliseconds(150))
        await stream.publish(id: "e1")
        // Heartbeats at 120, 270 and 390 ms do not keep the stream: it goes 300 ms after the event, at 450.
        await stream.advance(by: .milliseconds(299))
        #expect(!stream.session.isClosed)
        await stream.advance(by: .milliseconds(1))
        try #require(stream.session.closeReason == .timeout)
        #expect(
            try await stream.written()
                == ": ping\nid: e1\ndata: x\n\n: ping\n: ping\n" + Self.lastEventText
        )
        _ = try await stream.session.closeFuture.get()
        #expect(timeout.liveTimers == 0)
        #expect(heartbeat.liveTimers == 0)
    }

    @Test func closedStreamReleasesItsTimer() async throws {
        var configuration = TimeoutMiddleware.Configuration()
        configuration.idle = .seconds(1)
        let timeout = TimeoutMiddleware(configuration: configuration)
        let stream = try await TimerStream.open(middleware: [timeout])
        _ = try await stream.written()
        #expect(timeout.liveTimers == 1)
        stream.session.close(reason: .clientDisconnected)
        _ = try await stream.session.closeFuture.get()
        #expect(timeout.liveTimers == 0)
        await stream.advance(by: .seconds(3600))
        #expect(stream.session.closeReason == .clientDisconnected)
    }

    @Test func noLimitMakesNoFilter() async throws {
        var configuration = TimeoutMiddleware.Configuration()
        configuration.maxLifetime = nil
        let timeout = TimeoutMiddleware(configuration: configuration)
        let stream = try await TimerStream.open(middleware: [timeout])
        #expect(timeout.liveTimers == 0)
        stream.session.close(reason: .clientDisconnected)
        _ = try await stream.session.closeFuture.get()
    }
}
