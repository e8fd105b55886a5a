import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import SSEGateway

/// Routes that serve an SSE backend through the chain, against a real backend over loopback.
@Suite("upstream routes", .serialized, .timeLimit(.minutes(2)))
struct UpstreamRouteTests {
    static func configuration(_ upstream: String, middleware: String = "[]") throws -> GatewayConfiguration {
        var configuration = try GatewayConfiguration(
            jsonString: #"{"routes": [{"path": "/app/ticks", "upstream": \#(upstream)}], "middleware": \#(middleware)}"#
        )
        configuration.server.host = "127.0.0.1"
        configuration.server.port = 0
        configuration.server.threads = 2
        return configuration
    }

    @Test func eventsPassThroughFieldForFieldWithTheQueryAndTheCursorForwarded() async throws {
        let backend = try await UpstreamSSEServer.start()
        backend.publish(id: "e1", text: "id: e1\ndata: one\n\n")
        backend.publish(id: "e2", text: "event: add\r\nid: e2\r\nretry: 1500\r\ndata: two\r\ndata: lines\r\n\r\n")
        backend.publish(id: "e3", text: "id: e3\ndata:three\n\n")
        let upstream = #"{"url": "http://127.0.0.1:\#(backend.port)/ticks?fixed=1", "forwardHeaders": ["X-Trace"]}"#
        try await TestGateway.run(configuration: try Self.configuration(upstream)) { _, port in
            let client = try await RawClient.connect(port: port)
            try await client.sendRequest(
                "GET", "/app/ticks?client=2",
                headers: ["Last-Event-ID: e1", "X-Trace: abc", "Authorization: Bearer not-forwarded"])
            try await client.waitFor(text: "id: e3\n")
            let events = TestSubscriber.events(in: try await TestSubscriber(client: client).body())
            #expect(events == ["event: add\nretry: 1500\nid: e2\ndata: two\ndata: lines", "id: e3\ndata: three"])
            let request = try #require(backend.connections.first)
            #expect(request.uri == "/ticks?fixed=1&client=2")
            #expect(request.headers.first(name: "last-event-id") == "e1")
            #expect(request.headers.first(name: "x-trace") == "abc")
            #expect(request.headers.first(name: "authorization") == nil, "Authorization only when configured")
            try await client.close()
        }
        try await backend.stop()
    }

    @Test func aClientLeavingAnIdleStreamClosesTheBackendsRequestAtOnce() async throws {
        let backend = try await UpstreamSSEServer.start()
        try await TestGateway.run(configuration: try Self.configuration("\"http://127.0.0.1:\(backend.port)/\"")) {
            _, port in
            for round in 0..<10 {
                let client = try await RawClient.connect(port: port)
                try await client.sendRequest("GET", "/app/ticks")
                try await client.waitFor(text: ":\n")
                let left = ContinuousClock.now
                if round % 2 == 0 { try await client.close() } else { try await client.reset() }
                try await backend.closes.wait(
                    for: round + 1, "the backend's connection \(round) to close", timeout: .seconds(2))
                let after = left.duration(to: try #require(backend.connections[round].closed))
                #expect(after < .milliseconds(50), "closed \(after) after the client left")
            }
        }
        try await backend.stop()
    }

    @Test func aBackendThatDoesNotStreamGetsTheClient502() async throws {
        let backend = try await UpstreamSSEServer.start()
        backend.answerHTML(true)
        try await TestGateway.run(configuration: try Self.configuration("\"http://127.0.0.1:\(backend.port)/\"")) {
            _, port in
            let client = try await RawClient.connect(port: port)
            try await client.sendRequest("GET", "/app/ticks")
            let answer = try await client.readResponse()
            #expect(answer.status == 502)
            #expect(answer.body.contains("answered 404 (text/html)"), "\(answer.body)")
        }
        try await backend.stop()
        try await TestGateway.run(configuration: try Self.configuration("\"http://127.0.0.1:1/\"")) { _, port in
            let client = try await RawClient.connect(port: port)
            try await client.sendRequest("GET", "/app/ticks")
            let answer = try await client.readResponse()
            #expect(answer.status == 502)
            #expect(answer.body.contains("unreachable"), "\(answer.body)")
        }
    }

    @Test func aBackendThatRestartsIsInvisibleToTheClientsOneStream() async throws {
        let backend = try await UpstreamSSEServer.start()
        let upstream = #"{"url": "http://127.0.0.1:\#(backend.port)/", "maxBackoff": "200ms"}"#
        try await TestGateway.run(configuration: try Self.configuration(upstream)) { server, port in
            let client = try await RawClient.connect(port: port)
            try await client.sendRequest("GET", "/app/ticks")
            try await client.waitFor(text: ":\n")
            for n in 1...5 { backend.publish(id: "r\(n)", text: "id: r\(n)\nretry: 50\ndata: \(n)\n\n") }
            try await client.waitFor(text: "id: r5\n")
            try await backend.stop()
            // Published while the backend is down: it serves them after the cursor once it is back.
            for n in 6...10 { backend.publish(id: "r\(n)", text: "id: r\(n)\nretry: 50\ndata: \(n)\n\n") }
            try await backend.restart()
            try await client.waitFor(text: "id: r10\n", timeout: .seconds(10))
            for n in 11...12 { backend.publish(id: "r\(n)", text: "id: r\(n)\ndata: \(n)\n\n") }
            try await client.waitFor(text: "id: r12\n", timeout: .seconds(10))
            let ids = try await TestSubscriber(client: client).ids()
            #expect(ids == (1...12).map { "r\($0)" }, "every event once, in order, on one connection")
            let reconnect = try #require(backend.connections.last)
            #expect(reconnect.headers.first(name: "last-event-id") == "r5")
            #expect(server.renderMetrics().contains("sse_upstream_reconnects_total"))
        }
        try await backend.stop()
    }

    @Test func theChainAppliesHeartbeatsOnAnIdleUpstreamAndAuthWithoutAnonymous() async throws {
        let backend = try await UpstreamSSEServer.start()
        let secret = "upstream-route-secret-0123456789abcdef0123456789"
        var configuration = try Self.configuration(
            "\"http://127.0.0.1:\(backend.port)/\"",
            middleware: #"[{"use": "heartbeat", "interval": "100ms"}]"#)
        configuration.routes.append(
            HubRoute(
                path: "/app/private",
                middleware: [
                    MiddlewareEntry(
                        use: "auth",
                        settings: [
                            "use": .string("auth"),
                            "subscriber": .object(["key": .string(secret)]),
                            "publisher": .object(["key": .string(secret)]),
                        ], path: "routes[1].middleware[0]")
                ],
                configPath: "routes[1]"))
        configuration.routes[1].upstream = configuration.routes[0].upstream
        try await TestGateway.run(configuration: configuration) { _, port in
            let idle = try await RawClient.connect(port: port)
            try await idle.sendRequest("GET", "/app/ticks")
            // The opening comment, then heartbeats although the backend sends nothing.
            try await idle.waitFor(text: ":\n", occurrences: 3, timeout: .seconds(5))
            let refused = try await RawClient.connect(port: port)
            try await refused.sendRequest("GET", "/app/private")
            #expect(try await refused.readResponse().status == 401)
            #expect(backend.connections.count == 1, "a refused client costs no upstream request")
        }
        try await backend.stop()
    }

    @Test func sharedModeServesTwoHundredClientsFromOneUpstreamRequest() async throws {
        let backend = try await UpstreamSSEServer.start()
        let upstream = #"{"url": "http://127.0.0.1:\#(backend.port)/", "share": true, "linger": "300ms"}"#
        try await TestGateway.run(configuration: try Self.configuration(upstream)) { _, port in
            var clients: [RawClient] = []
            for _ in 0..<200 {
                let client = try await RawClient.connect(port: port)
                try await client.sendRequest("GET", "/app/ticks")
                try await client.waitFor(text: ":\n")
                clients.append(client)
            }
            #expect(backend.connections.count == 1, "one upstream request for every client")
            for n in 1...5 { backend.publish(id: "s\(n)", text: "id: s\(n)\nevent: tick\ndata: \(n)\n\n") }
            for client in clients {
                try await client.waitFor(text: "id: s5\n")
                #expect(try await TestSubscriber(client: client).ids() == (1...5).map { "s\($0)" })
            }
            // A client that comes back with its cursor gets what it missed from the feed's ring.
            let late = try await RawClient.connect(port: port)
            try await late.sendRequest("GET", "/app/ticks", headers: ["Last-Event-ID: s2"])
            try await late.waitFor(text: "id: s5\n")
            #expect(try await TestSubscriber(client: late).ids() == ["s3", "s4", "s5"])
            #expect(try await late.text.contains("Last-Event-ID: s2\r\n"))
            clients.append(late)

            // The request closes once the last client has left, after the linger, and not before.
            for client in clients { try await client.close() }
            let left = ContinuousClock.now
            try await backend.closes.wait(for: 1, "the shared request to close", timeout: .seconds(5))
            let after = left.duration(to: try #require(backend.connections[0].closed))
            #expect(after >= .milliseconds(250) && after < .seconds(2), "closed \(after) after the last client left")
            #expect(backend.connections.count == 1)
        }
        try await backend.stop()
    }

    /// A feed reads and commits on the server's event loops, so stopping the server ends it, linger or not: on loops
    /// the server does not own (which go on running), its request is closed by the time shutdown returns.
    @Test func stoppingTheServerEndsASharedFeedWithinItsLinger() async throws {
        let backend = try await UpstreamSSEServer.start()
        let upstream = #"{"url": "http://127.0.0.1:\#(backend.port)/", "share": true, "linger": "60s"}"#
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var configuration = try Self.configuration(upstream)
        configuration.shutdown.readinessGrace = .zero
        configuration.shutdown.drainTimeout = .zero
        let server = try GatewayServer(
            configuration: configuration, eventLoopGroup: group, logger: LogRecorder().logger(level: .critical))
        try await server.start()
        let client = try await RawClient.connect(port: server.localAddress!.port!)
        try await client.sendRequest("GET", "/app/ticks")
        try await client.waitFor(text: ":\n")
        backend.publish(id: "s1", text: "id: s1\ndata: 1\n\n")
        try await client.waitFor(text: "id: s1\n")
        try await client.close()
        await server.shutdown()
        try await backend.closes.wait(for: 1, "the shared request to close with the server", timeout: .seconds(5))
        try await group.shutdownGracefully()
        try await backend.stop()
    }

    /// A backend that sends as fast as it can, to a client that reads nothing: in per-client mode the backend is held
    /// back at the client's pace; in shared mode the feed keeps reading for its other clients and the stalled one is
    /// cut off as a slow consumer. Either way the gateway's memory stays bounded.
    @Test(arguments: [false, true])
    func aFastBackendToAClientThatReadsNothingKeepsMemoryBounded(shared: Bool) async throws {
        let backend = try await UpstreamSSEServer.start()
        backend.flood(true)
        let upstream = #"{"url": "http://127.0.0.1:\#(backend.port)/", "share": \#(shared), "linger": "0s"}"#
        let log = LogRecorder()
        try await TestGateway.run(configuration: try Self.configuration(upstream), logger: log.logger(level: .notice)) {
            server, port in
            let before = try AbuseMemoryTests.residentKiB(of: getpid())
            let client = try await RawClient.connect(port: port, receiveBuffer: 4096)
            try await client.sendRequest("GET", "/app/ticks")
            if shared {
                // The feed goes on at the backend's pace; the stalled client is cut off once 1 MiB is waiting for it.
                try await AbuseTests.eventually(within: .seconds(10)) {
                    server.renderMetrics().contains(#"sse_sessions_closed_total{reason="slow_consumer"} 1"#)
                }
                #expect(server.renderMetrics().contains(#"sse_sessions_closed_total{reason="slow_consumer"} 1"#))
            } else {
                // The backend's writes stop once every buffer on the way is full, and stay stopped.
                var previous = -1
                let deadline = ContinuousClock.now + .seconds(10)
                while true {
                    try await Task.sleep(for: .milliseconds(200))
                    let flooded = backend.flooded
                    if flooded == previous { break }
                    previous = flooded
                    try #require(ContinuousClock.now < deadline, "the backend never had to wait (\(flooded) bytes)")
                }
                print("a backend sending to a client that reads nothing was held back after \(previous / 1024) KiB")
                #expect(previous < 64 << 20, "\(previous) bytes taken from the backend for a client that reads nothing")
                #expect(!server.renderMetrics().contains("slow_consumer"), "the stream waits; it is not cut off")
            }
            let grown = try AbuseMemoryTests.residentKiB(of: getpid()) - before
            print("resident memory grew by \(grown) KiB (\(shared ? "shared" : "per client"))")
            #expect(grown < 48 * 1024, "resident memory grew by \(grown) KiB")
            try await client.close()
            try await backend.closes.wait(for: 1, "the backend's request to close", timeout: .seconds(5))
        }
        #expect(!log.recorded.contains { $0.message.contains("upstream") }, "the feed never failed or reconnected")
        try await backend.stop()
    }

    @Test(
        arguments: [
            (#""ftp://x/""#, "routes[0].upstream: must be an http:// URL"),
            (#"{"url": "http://x:99999/"}"#, "routes[0].upstream.url: has no valid port"),
            (#"{"url": "http://x/", "forwardHeaders": ["bad header"]}"#, "routes[0].upstream.forwardHeaders[0]:"),
            (#"{"url": "http://x/", "retry": 1}"#, "routes[0].upstream.retry: unknown key"),
        ]
    )
    func badUpstreamSettingsAreConfigErrorsNamingTheirPath(upstream: String, message: String) throws {
        let error = try #require(throws: ConfigError.self) { try Self.configuration(upstream) }
        #expect("\(error)".hasPrefix(message), "\(error)")
    }
}
