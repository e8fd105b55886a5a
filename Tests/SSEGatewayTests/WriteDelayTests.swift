import NIOCore
import NIOEmbedded
import Testing

@testable import SSEGateway

/// `streams.writeDelay`: hub events written at once, flushed by the loop's timer at most once per delay.
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
        #expect(try Self.flushed(stream).isEmpty, "written, not yet flushed")
        stream.loop.advanceTime(by: .milliseconds(4))
        #expect(try Self.flushed(stream).isEmpty)
        stream.loop.advanceTime(by: .milliseconds(1))
        let writes = try Self.flushed(stream)
        #expect(writes.count == 3, "the three events, in one flush")
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
