import NIOCore
import Testing

@testable import Heartbeat
@testable import SSEGateway

@Suite("Heartbeat filter on a testing clock")
struct HeartbeatEmbeddedTests {
    static func heartbeat(
        interval: Duration = .milliseconds(200),
        deadPeerTimeout: Duration? = nil
    ) -> HeartbeatMiddleware {
        var configuration = HeartbeatMiddleware.Configuration()
        configuration.interval = interval
        configuration.comment = "ping"
        configuration.deadPeerTimeout = deadPeerTimeout
        configuration.tcpUserTimeout = nil
        return HeartbeatMiddleware(configuration: configuration)
    }

    @Test func commentComesExactlyAfterTheIntervalWithoutWrites() async throws {
        let heartbeat = Self.heartbeat()
        let stream = try await TimerStream.open(middleware: [heartbeat])
        #expect(try await stream.written().hasSuffix("\r\n\r\n:\n"))
        #expect(heartbeat.liveTimers == 1)
        await stream.advance(by: .milliseconds(199))
        #expect(try await stream.written() == "")
        await stream.advance(by: .milliseconds(1))
        #expect(try await stream.written() == ": ping\n")
        await stream.advance(by: .milliseconds(200))
        #expect(try await stream.written() == ": ping\n")
        stream.session.close(reason: .clientDisconnected)
        _ = try await stream.session.closeFuture.get()
        #expect(heartbeat.liveTimers == 0)
    }

    @Test func everyWriteMovesTheNextComment() async throws {
        let heartbeat = Self.heartbeat()
        let stream = try await TimerStream.open(middleware: [heartbeat])
        _ = try await stream.written()
        await stream.advance(by: .milliseconds(150))
        await stream.publish(id: "e1")
        #expect(try await stream.written() == "id: e1\ndata: x\n\n")
        // Due 200 ms after the event, not 200 ms after the stream opened.
        await stream.advance(by: .milliseconds(199))
        #expect(try await stream.written() == "")
        await stream.advance(by: .milliseconds(1))
        #expect(try await stream.written() == ": ping\n")
        stream.session.close(reason: .clientDisconnected)
        _ = try await stream.session.closeFuture.get()
        #expect(heartbeat.liveTimers == 0)
    }

    @Test func socketUnwritableForTheBoundClosesAsDeadPeer() async throws {
        let heartbeat = Self.heartbeat(interval: .seconds(15), deadPeerTimeout: .milliseconds(500))
        let stream = try await TimerStream.open(middleware: [heartbeat])
        await stream.advance(by: .seconds(1))
        try await stream.setWritable(false)
        await stream.advance(by: .milliseconds(499))
        #expect(!stream.session.isClosed)
        await stream.advance(by: .milliseconds(1))
        try #require(stream.session.closeReason == .deadPeer)
        #expect(heartbeat.liveTimers == 0, "the filter lets go of its timer before closing")
        _ = try await stream.session.closeFuture.get()
        #expect(heartbeat.liveTimers == 0)
    }

    @Test func socketWritableAgainWithinTheBoundKeepsTheStream() async throws {
        let heartbeat = Self.heartbeat(interval: .seconds(1), deadPeerTimeout: .milliseconds(500))
        let stream = try await TimerStream.open(middleware: [heartbeat])
        _ = try await stream.written()
        try await stream.setWritable(false)
        await stream.advance(by: .milliseconds(400))
        try await stream.setWritable(true)
        await stream.advance(by: .milliseconds(200))
        #expect(!stream.session.isClosed)
        await stream.advance(by: .milliseconds(400))
        #expect(try await stream.written() == ": ping\n")
        stream.session.close(reason: .clientDisconnected)
        _ = try await stream.session.closeFuture.get()
        #expect(heartbeat.liveTimers == 0)
    }

    @Test func timerOfAClosedStreamNeverFires() async throws {
        let heartbeat = Self.heartbeat()
        let stream = try await TimerStream.open(middleware: [heartbeat])
        _ = try await stream.written()
        stream.session.close(reason: .clientDisconnected)
        _ = try await stream.session.closeFuture.get()
        #expect(heartbeat.liveTimers == 0)
        await stream.advance(by: .seconds(10))
        #expect(try await stream.written().isEmpty)
    }
}
