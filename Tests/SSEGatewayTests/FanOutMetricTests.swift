import NIOCore
import NIOEmbedded
import Testing

@testable import SSEGateway

/// `sse_fanout_seconds`: one observation per batch a loop wrote to its streams, or per write window.
@Suite("fan-out metric")
struct FanOutMetricTests {
    static func count(_ stream: EmbeddedStream) -> Double? {
        stream.metrics.samples()["sse_fanout_seconds_count"].flatMap { Double($0) }
    }

    @Test func eachBatchWrittenToStreamsIsOneObservation() async throws {
        let stream = try await EmbeddedStream.make()
        #expect(Self.count(stream) == 0)
        stream.hub.publishCommitted(PublishRequest(topics: ["a"], data: "one"))
        stream.loop.run()
        #expect(Self.count(stream) == 1)
        stream.hub.publishCommitted([
            PublishRequest(topics: ["a"], data: "two"), PublishRequest(topics: ["a"], data: "three"),
        ])
        stream.loop.run()
        #expect(Self.count(stream) == 2, "a batch of two events is one fan-out")
        stream.hub.publishCommitted(PublishRequest(topics: ["nobody"], data: "lost"))
        stream.loop.run()
        #expect(Self.count(stream) == 2, "a batch no stream took is not a fan-out")
    }

    @Test func aWriteWindowIsOneObservationWhenItIsWritten() async throws {
        let stream = try await EmbeddedStream.make(writeDelay: .milliseconds(5))
        for n in 1...3 {
            stream.hub.publishCommitted(PublishRequest(topics: ["a"], data: "e\(n)"))
            stream.loop.run()
        }
        #expect(Self.count(stream) == 0, "taken, not written yet")
        stream.loop.advanceTime(by: .milliseconds(5))
        #expect(Self.count(stream) == 1)
    }
}
