import Compression
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import SSEGateway

/// Keeps every stream's session and ``SessionStream``, so a test can send comments through the stream's filters and
/// close sessions as a middleware would.
private final class StreamGrabber: Middleware {
    private let streams = NIOLockedValueBox<[(session: Session, stream: NIOLoopBound<SessionStream>)]>([])

    func makeStreamFilter(for stream: SessionStream) -> (any StreamFilter)? {
        let bound = NIOLoopBound(stream, eventLoop: stream.eventLoop)
        self.streams.withLockedValue { $0.append((stream.session, bound)) }
        return nil
    }

    var sessions: [Session] { self.streams.withLockedValue { $0.map(\.session) } }

    /// Sends a comment on the first stream, on its loop, as a heartbeat does.
    func sendComment(_ text: String) async throws -> Bool {
        let stream = try #require(self.streams.withLockedValue { $0.first?.stream })
        return try await stream.eventLoop.submit { stream.value.sendComment(text) }.get()
    }
}

/// Refuses every stream in its connect phase.
private struct Refuser: Middleware {
    func connect(_ session: Session) async throws {
        throw HTTPRejection(.forbidden, reason: "no streams here")
    }
}

@Suite("Compressed streams over loopback")
struct CompressionLiveTests {
    private static func event(_ index: Int) -> (fields: [(String, String)], text: String) {
        let data = #"{"n":\#(index),"note":"\#(String(repeating: "tick ", count: index))"}"#
        return ([("topic", "t"), ("id", "e\(index)"), ("data", data)], "id: e\(index)\ndata: \(data)\n\n")
    }

    @Test(arguments: [ContentCoding.gzip, .deflate])
    func eachEventAndCommentDecodesBeforeTheNextIsSent(coding: ContentCoding) async throws {
        let compression = CompressionMiddleware()
        let grabber = StreamGrabber()
        try await TestGateway.run(middleware: [grabber, compression]) { server, port in
            try await PythonDecodingSubscriber.with(
                port: port, query: "topic=t", acceptEncoding: "\(coding.rawValue), identity;q=0.5"
            ) { decoder in
                let opened = try await decoder.waitFor("the opening comment, decoded") { $0.text == ":\n" }
                #expect(opened.head?.status == 200)
                #expect(opened.head?.header("Content-Encoding") == [coding.rawValue])
                #expect(opened.head?.header("Vary") == ["Accept-Encoding"])
                #expect(compression.liveStreams == 1)

                let publisher = try await TestPublisher.connect(port: port)
                var expected = ":\n"
                for index in 1...6 {
                    let (fields, text) = Self.event(index)
                    try await publisher.publish(fields)
                    expected += text
                    // Each event must decode from its own chunk before the next one exists: nothing waits in zlib.
                    let snapshot = try await decoder.waitFor("event \(index), decoded") { [expected] in
                        $0.text == expected
                    }
                    #expect(snapshot.pieces == index + 1)
                }
                #expect(try await grabber.sendComment("keepalive"))
                expected += ": keepalive\n"
                let commented = try await decoder.waitFor("the comment, decoded") { [expected] in $0.text == expected }
                #expect(commented.end == nil)

                await server.shutdown()
                let end = try await decoder.waitForEnd()
                #expect(end.terminated, "the chunked body ends with its last chunk")
                #expect(end.complete == true, "the \(coding) data ends with its trailer, checked by zlib")
                #expect(end.unused == 0)
                #expect(end.leftover == 0)
                #expect(end.error == nil)
                // Shutdown's notice passed through the compressor too, before the trailer.
                let text = decoder.snapshot.text
                #expect(text.hasPrefix(expected))
                #expect(text.dropFirst(expected.count).hasPrefix("event: shutdown\n"))
            }
            #expect(compression.liveStreams == 0)
        }
    }

    @Test(arguments: [ContentCoding.gzip, .deflate])
    func aSessionClosedByMiddlewareEndsWithACompleteBody(coding: ContentCoding) async throws {
        let compression = CompressionMiddleware()
        let grabber = StreamGrabber()
        try await TestGateway.run(middleware: [grabber, compression]) { _, port in
            try await PythonDecodingSubscriber.with(
                port: port, query: "topic=t", acceptEncoding: coding.rawValue
            ) { decoder in
                try await decoder.waitFor("the opening comment, decoded") { $0.text == ":\n" }
                let publisher = try await TestPublisher.connect(port: port)
                try await publisher.publish(Self.event(1).fields)
                try await decoder.waitForEvents(1)
                let session = try #require(grabber.sessions.first)
                session.close(reason: CloseReason("test_close"))
                let end = try await decoder.waitForEnd()
                #expect(end.terminated)
                #expect(end.complete == true)
                #expect(end.unused == 0 && end.leftover == 0 && end.error == nil)
                #expect(decoder.snapshot.text == ":\n" + Self.event(1).text)
                #expect(try await session.closeFuture.get() == CloseReason("test_close"))
            }
            #expect(compression.liveStreams == 0)
        }
    }

    @Test func theConfiguredPluginCompressesWithItsSettings() async throws {
        let configuration = GatewayConfiguration.testing {
            $0.middleware = [
                MiddlewareEntry(
                    use: "compression",
                    settings: [
                        "level": .integer(9), "windowBits": .integer(15), "encodings": .array([.string("deflate")]),
                    ]
                )
            ]
        }
        try await TestGateway.run(configuration: configuration) { _, port in
            try await PythonDecodingSubscriber.with(
                port: port, query: "topic=t", acceptEncoding: "gzip, deflate"
            ) { decoder in
                let opened = try await decoder.waitFor("the opening comment, decoded") { $0.text == ":\n" }
                #expect(opened.head?.header("Content-Encoding") == ["deflate"])
                let publisher = try await TestPublisher.connect(port: port)
                try await publisher.publish(Self.event(1).fields)
                try await decoder.waitFor("event 1, decoded") { $0.text == ":\n" + Self.event(1).text }
            }
        }
    }

    @Test func aRefusalAfterNegotiationIsPlainTextAndStillVaries() async throws {
        let compression = CompressionMiddleware()
        try await TestGateway.run(middleware: [compression, Refuser()]) { _, port in
            let client = try await RawClient.connect(port: port)
            try await client.sendRequest("GET", "/.well-known/mercure?topic=a", headers: ["Accept-Encoding: gzip"])
            let response = try await client.readResponse()
            #expect(response.status == 403)
            #expect(response.header("Content-Encoding") == nil)
            #expect(response.header("Vary") == "Accept-Encoding")
            #expect(response.body == "no streams here\n")
            #expect(compression.liveStreams == 0)
        }
    }

    @Test func zlibStreamsAreAllFreedAfterThreeHundredSessions() async throws {
        let compression = CompressionMiddleware()
        let collector = SessionCollector()
        let acceptEncodings = ["gzip", "deflate", "gzip;q=0.5, deflate;q=0.2", "identity"]
        try await TestGateway.run(middleware: [collector, compression]) { _, port in
            for round in 0..<6 {
                var clients: [RawClient] = []
                for index in 0..<50 {
                    let client = try await RawClient.connect(port: port)
                    try await client.sendRequest(
                        "GET", "/.well-known/mercure?topic=t",
                        headers: ["Accept-Encoding: \(acceptEncodings[index % acceptEncodings.count])"]
                    )
                    clients.append(client)
                }
                for client in clients { try await client.waitFor(text: "\r\n\r\n") }
                // Every fourth client asked for identity and holds no zlib stream.
                #expect(compression.liveStreams == 38, "round \(round)")
                // Deliveries race with the closes below: a late message must find the filter released, not crash.
                // A publisher of its own each round: one opened before the first round could sit idle past
                // `server.requestHeaderTimeout` on a busy machine and be closed before its first publish.
                let publisher = try await TestPublisher.connect(port: port)
                try await publisher.publish(Self.event(round).fields)
                try await publisher.client.close()
                for (index, client) in clients.enumerated() {
                    if index % 2 == 0 {
                        try await client.close()
                    } else {
                        try await client.reset()
                    }
                }
            }
            let sessions = collector.sessions.withLockedValue { $0 }
            #expect(sessions.count == 300)
            for session in sessions {
                // A delivery racing with a reset may see the write fail first.
                let reason = try await session.closeFuture.get()
                #expect(reason == .clientDisconnected || reason == .writeFailed)
            }
            #expect(compression.liveStreams == 0)
        }
    }
}
