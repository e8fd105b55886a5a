import NIOCore
import NIOEmbedded
import Testing

@testable import SSEGateway

/// `streams.writeDelay`: the hub events a stream takes are written by the loop's timer at most once per delay, as one
/// buffer shared by the streams that took the same ones.
@Suite("write delay")
struct WriteDelayTests {
    /// Everything flushed to the embedded socket so far, as text.
    static func flushed(_ stream: EmbeddedStream) throws -> [String] {
        var writes: [String] = []
        while let buffer = try stream.channel.readOutbound(as: ByteBuffer.self) {
            writes.append(String(buffer: buffer))
        }
        return writes
    }

    @Test func eventsWithinTheDelayLeaveTogetherWhenItEnds() async throws {
        let stream = try await EmbeddedStream.make(writeDelay: .milliseconds(5))
        _ = try Self.flushed(stream)  // the head and the opening comment
        for n in 1...3 {
            stream.hub.publishCommitted(PublishRequest(topics: ["a"], data: "e\(n)"))
            stream.loop.run()
        }
        #expect(try Self.flushed(stream).isEmpty, "taken, not yet written")
        stream.loop.advanceTime(by: .milliseconds(4))
        #expect(try Self.flushed(stream).isEmpty)
        stream.loop.advanceTime(by: .milliseconds(1))
        let writes = try Self.flushed(stream)
        #expect(writes.count == 1, "the three events, in one write")
        #expect(writes.joined().contains("data: e1\n") && writes.joined().contains("data: e3\n"))
        // Matched with their field name: the events' ids are hexadecimal and may contain "e1".
        let text = writes.joined()
        #expect(text.firstRange(of: "data: e1\n")!.lowerBound < text.firstRange(of: "data: e3\n")!.lowerBound)

        // The next event starts a new window.
        stream.hub.publishCommitted(PublishRequest(topics: ["a"], data: "e4"))
        stream.loop.run()
        #expect(try Self.flushed(stream).isEmpty)
        stream.loop.advanceTime(by: .milliseconds(5))
        #expect(try Self.flushed(stream).joined().contains("data: e4\n"))
    }

    /// The address of a buffer's bytes: equal for two writes that share one buffer.
    static func address(of buffer: ByteBuffer) -> UnsafeRawPointer? {
        buffer.withUnsafeReadableBytes { UnsafeRawPointer($0.baseAddress) }
    }

    @Test func streamsThatTookTheSameEventsShareOneBuffer() async throws {
        let first = try await EmbeddedStream.make(writeDelay: .milliseconds(5))
        let second = try await first.another(topics: ["a"])
        _ = try Self.flushed(first)
        _ = try Self.flushed(second)
        for n in 1...3 { first.hub.publishCommitted(PublishRequest(topics: ["a"], data: "e\(n)")) }
        first.loop.advanceTime(by: .milliseconds(5))
        let one = try #require(try first.channel.readOutbound(as: ByteBuffer.self))
        let other = try #require(try second.channel.readOutbound(as: ByteBuffer.self))
        #expect(try first.channel.readOutbound(as: ByteBuffer.self) == nil, "one write per stream")
        #expect(String(buffer: one).contains("data: e1\n") && String(buffer: one).contains("data: e3\n"))
        #expect(one == other)
        #expect(Self.address(of: one) == Self.address(of: other), "built once, written to both")
    }

    @Test func aStreamThatSkipsAnEventOfTheWindowGetsItsOwnInOrder() async throws {
        let narrow = try await EmbeddedStream.make(writeDelay: .milliseconds(5))
        let wide = try await narrow.another(topics: ["a", "b"])
        _ = try Self.flushed(narrow)
        _ = try Self.flushed(wide)
        for (topic, data) in [("a", "a1"), ("b", "b1"), ("a", "a2")] {
            narrow.hub.publishCommitted(PublishRequest(topics: [topic], data: data))
        }
        narrow.loop.advanceTime(by: .milliseconds(5))
        let narrowText = try Self.flushed(narrow).joined()
        #expect(!narrowText.contains("data: b1\n"))
        let a1 = try #require(narrowText.firstRange(of: "data: a1\n"))
        let a2 = try #require(narrowText.firstRange(of: "data: a2\n"))
        #expect(a1.lowerBound < a2.lowerBound)
        let wideWrites = try Self.flushed(wide)
        #expect(wideWrites.count == 1, "the wide stream took all three in a row: one write")
        let wideText = wideWrites.joined()
        let order = ["data: a1\n", "data: b1\n", "data: a2\n"].compactMap { wideText.firstRange(of: $0)?.lowerBound }
        #expect(order.count == 3 && order == order.sorted())
    }

    @Test func aMessageSentWithinTheDelayFollowsTheEventsTakenBeforeIt() async throws {
        let stream = try await EmbeddedStream.make(writeDelay: .milliseconds(5))
        _ = try Self.flushed(stream)
        stream.hub.publishCommitted(PublishRequest(topics: ["a"], data: "first"))
        stream.loop.run()
        #expect(try stream.handler.sendMessage(ByteBuffer(string: ": ping\n\n"), kind: .comment))
        let text = try Self.flushed(stream).joined()
        let event = try #require(text.firstRange(of: "data: first\n"), "the event went out with the message")
        let ping = try #require(text.firstRange(of: ": ping\n"))
        #expect(event.lowerBound < ping.lowerBound)
        stream.loop.advanceTime(by: .milliseconds(5))
        #expect(try Self.flushed(stream).isEmpty, "nothing written twice")
    }

    @Test func aStreamClosedWithinTheDelayStillSendsTheEventsItTook() async throws {
        let stream = try await EmbeddedStream.make(writeDelay: .milliseconds(5))
        _ = try Self.flushed(stream)
        stream.hub.publishCommitted(PublishRequest(topics: ["a"], data: "last"))
        stream.loop.run()
        stream.session.close(reason: .timeout)
        stream.loop.run()
        let text = try Self.flushed(stream).joined()
        let event = try #require(text.firstRange(of: "data: last\n"), "\(text)")
        let end = try #require(text.firstRange(of: "\r\n0\r\n\r\n"), "the body ends after it: \(text)")
        #expect(event.lowerBound < end.lowerBound)
        stream.loop.advanceTime(by: .milliseconds(5))
        #expect(try Self.flushed(stream).isEmpty)
    }

    @Test func aBatchWithoutADelayIsOneWriteFlushedAtOnce() async throws {
        let stream = try await EmbeddedStream.make()
        _ = try Self.flushed(stream)
        stream.hub.publishCommitted([
            PublishRequest(topics: ["a"], data: "x1"), PublishRequest(topics: ["a"], data: "x2"),
        ])
        stream.loop.run()
        let writes = try Self.flushed(stream)
        #expect(writes.count == 1)
        #expect(writes.joined().contains("data: x1\n") && writes.joined().contains("data: x2\n"))
    }

    @Test func withoutADelayEachEventIsFlushedAtOnce() async throws {
        let stream = try await EmbeddedStream.make()
        _ = try Self.flushed(stream)
        stream.hub.publishCommitted(PublishRequest(topics: ["a"], data: "now"))
        stream.loop.run()
        #expect(try Self.flushed(stream).joined().contains("data: now\n"))
    }

    @Test(arguments: [(#""2s""#, "streams.writeDelay: must be at most 1s"), (#""x""#, "streams.writeDelay:")])
    func badDelaysAreConfigErrors(value: String, message: String) throws {
        let error = try #require(throws: ConfigError.self) {
            try GatewayConfiguration(jsonString: #"{"streams": {"writeDelay": \#(value)}}"#)
        }
        #expect("\(error)".hasPrefix(message), "\(error)")
    }
}
