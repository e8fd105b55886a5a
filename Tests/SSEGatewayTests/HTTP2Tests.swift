import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import SSEGateway

/// HTTP/2 over TLS (ALPN) and in cleartext with prior knowledge, over loopback with `curl` and NIO's HTTP/2 client.
@Suite("HTTP/2", .serialized, .timeLimit(.minutes(2)))
struct HTTP2Tests {
    /// Records when each session opens and closes, and why.
    final class CloseClock: Middleware, Sendable {
        let opened = EventCounter()
        let closed = EventCounter()
        let closes = NIOLockedValueBox<[(session: String, at: ContinuousClock.Instant, reason: CloseReason)]>([])

        func connect(_ session: Session) async throws {
            session.addWillCloseListener { session, reason in
                self.closes.withLockedValue { $0.append(("\(session.id)", .now, reason)) }
                self.closed.increment()
            }
            self.opened.increment()
        }
    }

    static func configuration(
        _ certificates: TestCertificates?, modify: (inout GatewayConfiguration) -> Void = { _ in }
    ) -> GatewayConfiguration {
        .testing { configuration in
            if let certificates {
                configuration.server.tls = .init(
                    certificateFile: certificates.path("gateway.crt"), keyFile: certificates.path("gateway.key"))
            }
            modify(&configuration)
        }
    }

    static func withTLS<T>(_ body: (TestCertificates) async throws -> T) async throws -> T {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await certificates.make("gateway")
        return try await body(certificates)
    }

    static let hubPath = "/.well-known/mercure"

    @Test func curlPublishesSubscribesAndReplaysOverHTTP2WithTheOperationalEndpoints() async throws {
        try await Self.withTLS { certificates in
            try await TestGateway.run(configuration: Self.configuration(certificates)) { server, port in
                let url = "https://127.0.0.1:\(port)\(Self.hubPath)"
                let stream = try Curl.start(["-k", "--http2", "-D", "-", url + "?topic=news"])
                try await stream.waitFor("the stream to open", timeout: .seconds(10)) {
                    $0.standardOutput.contains("\r\n\r\n:\n")
                }
                let head = stream.output.standardOutput.lowercased()
                #expect(head.hasPrefix("http/2 200"), "\(head)")
                #expect(head.contains("content-type: text/event-stream"))
                for forbidden in ["connection:", "keep-alive:", "transfer-encoding:"] {
                    #expect(!head.contains(forbidden), "\(forbidden) on an HTTP/2 response: \(head)")
                }
                for n in 1...2 {
                    let publish = try await Curl.run([
                        "-k", "--http2", "-d", "topic=news", "-d", "id=n\(n)", "-d", "data=hello \(n)",
                        "-w", "\n%{http_code} %{http_version}", url,
                    ])
                    #expect(publish.standardOutput == "n\(n)\n200 2", "\(publish.standardOutput)")
                }
                try await stream.waitFor("both events", timeout: .seconds(10)) {
                    $0.standardOutput.contains("id: n1\ndata: hello 1\n\nid: n2\ndata: hello 2\n\n")
                }
                let replay = try Curl.start([
                    "-k", "--http2", "-D", "-", "-H", "Last-Event-ID: n1", url + "?topic=news",
                ])
                try await replay.waitFor("the replay", timeout: .seconds(10)) { $0.standardOutput.contains("id: n2\n") }
                #expect(replay.output.standardOutput.lowercased().contains("last-event-id: n1\r\n"))
                #expect(!replay.output.standardOutput.contains("id: n1\n"))

                for (path, body) in [("/healthz", "ok"), ("/readyz", "ready"), ("/metrics", "sse_sessions_active 2")] {
                    let answer = try await Curl.run([
                        "-k", "--http2", "-w", "\n%{http_code} %{http_version}", "https://127.0.0.1:\(port)\(path)",
                    ])
                    #expect(answer.standardOutput.hasSuffix("\n200 2"), "\(path): \(answer.standardOutput)")
                    #expect(answer.standardOutput.contains(body), "\(path): \(answer.standardOutput)")
                }
                stream.signal(SIGKILL)
                replay.signal(SIGKILL)
                // The closed count follows the active gauge's decrement: wait for the count.
                let closed = #"sse_sessions_closed_total{reason="client_disconnected"} 2"#
                try await AbuseTests.eventually { server.renderMetrics().contains(closed) }
                #expect(server.renderMetrics().contains(closed))
                #expect(server.renderMetrics().contains("sse_sessions_active 0"))
            }
        }
    }

    /// Closing one `EventSource` of a page resets its stream: that session alone ends, at once, and the other
    /// stream on the same connection goes on.
    @Test func resettingOneStreamEndsThatSessionAloneWithinMilliseconds() async throws {
        try await Self.withTLS { certificates in
            let clock = CloseClock()
            try await TestGateway.run(middleware: [clock], configuration: Self.configuration(certificates)) {
                server, port in
                let client = try await H2Client.connect(port: port, tls: true)
                let staying = try await client.open(Self.hubPath + "?topic=news")
                try await staying.waitFor(text: ":\n")
                var delays: [Duration] = []
                for round in 1...100 {
                    let leaving = try await client.open(Self.hubPath + "?topic=news")
                    try await leaving.waitFor(text: ":\n")
                    #expect(server.renderMetrics().contains("sse_sessions_active 2"))
                    let left = ContinuousClock.now
                    leaving.reset()
                    try await clock.closed.wait(for: round, "session \(round) to close", timeout: .seconds(2))
                    let close = try #require(clock.closes.withLockedValue { $0.last })
                    #expect(close.reason == .clientDisconnected)
                    delays.append(left.duration(to: close.at))
                }
                delays.sort()
                // p99 over 100 resets, as for a stream handler's cancellation: one scheduling stall of a shared
                // machine is not the gateway's latency.
                let p99 = delays[98]
                print("session closed after its stream was reset: p50 \(delays[49]), p99 \(p99), max \(delays[99])")
                #expect(p99 < .milliseconds(10), "p99 \(p99)")
                // The gauge drops just after the will-close listeners have run.
                try await AbuseTests.eventually { server.renderMetrics().contains("sse_sessions_active 1") }
                #expect(server.renderMetrics().contains("sse_sessions_active 1"))

                let answer = try await Curl.run([
                    "-k", "-d", "topic=news", "-d", "data=still here", "https://127.0.0.1:\(port)\(Self.hubPath)",
                ])
                #expect(!answer.standardOutput.isEmpty)
                try await staying.waitFor(text: "data: still here\n")
                #expect(client.channel.isActive, "the connection carries on")
                await client.close()
            }
        }
    }

    @Test func cleartextHTTP2WithPriorKnowledgeSharesThePortWithHTTP1WhenEnabled() async throws {
        let configuration = Self.configuration(nil) { $0.server.http2.cleartext = true }
        try await TestGateway.run(configuration: configuration) { server, port in
            let url = "http://127.0.0.1:\(port)\(Self.hubPath)"
            let stream = try Curl.start(["--http2-prior-knowledge", url + "?topic=news"])
            try await stream.waitFor("the stream to open", timeout: .seconds(10)) { $0.standardOutput.hasPrefix(":") }
            let publish = try await Curl.run([
                "--http2-prior-knowledge", "-d", "topic=news", "-d", "data=over h2c", "-w", "\n%{http_version}", url,
            ])
            #expect(publish.standardOutput.hasSuffix("\n2"), "\(publish.standardOutput)")
            let plain = try await Curl.run(["--http1.1", "-w", "\n%{http_version}", "http://127.0.0.1:\(port)/healthz"])
            #expect(
                plain.standardOutput.hasPrefix("ok") && plain.standardOutput.hasSuffix("\n1.1"),
                "\(plain.standardOutput)")
            try await stream.waitFor("the event", timeout: .seconds(10)) {
                $0.standardOutput.contains("data: over h2c\n")
            }
            stream.signal(SIGKILL)
        }
        // Off by default: the preface is not an HTTP/1.1 request.
        try await TestGateway.run(configuration: Self.configuration(nil)) { _, port in
            let refused = try await Curl.run([
                "--http2-prior-knowledge", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)/healthz",
            ])
            #expect(!refused.standardOutput.hasPrefix("ok"), "\(refused.standardOutput)")
        }
    }

    @Test func shutdownSendsGoAwayThenTheNoticeOnEveryStreamAndEndsThem() async throws {
        try await Self.withTLS { certificates in
            let configuration = Self.configuration(certificates) { configuration in
                configuration.shutdown.readinessGrace = .zero
                configuration.shutdown.drainTimeout = .milliseconds(200)
            }
            try await TestGateway.run(configuration: configuration) { server, port in
                let client = try await H2Client.connect(port: port, tls: true)
                var streams: [H2Stream] = []
                for _ in 0..<3 {
                    let stream = try await client.open(Self.hubPath + "?topic=news")
                    try await stream.waitFor(text: ":\n")
                    streams.append(stream)
                }
                let shutdown = Task { await server.shutdown() }
                try await client.goAwayCount.wait(for: 1, "GOAWAY")
                for stream in streams {
                    try await stream.waitFor(text: "event: shutdown\n")
                    let state = try await stream.waitFor("the stream's end") { $0.ended }
                    #expect(state.body.contains("retry: "))
                    #expect(state.reset == nil, "ended with END_STREAM, not reset")
                }
                // Its streams ended, the connection closes (the gateway does not wait for it to time out).
                try await client.closed.wait(for: 1, "the connection to close")
                #expect(await shutdown.value == .clean)
                #expect(server.renderMetrics().contains(#"sse_sessions_closed_total{reason="server_shutdown"} 3"#))
            }
        }
    }

    /// A stream whose client stops reading (its window stays shut) is cut off as a slow consumer; its neighbour on
    /// the same connection receives everything.
    @Test func aStreamWhoseWindowStaysShutIsCutOffWithoutStallingItsNeighbour() async throws {
        try await Self.withTLS { certificates in
            let configuration = Self.configuration(certificates) { $0.streams.maxBufferedBytes = 256 * 1024 }
            try await TestGateway.run(configuration: configuration) { server, port in
                let client = try await H2Client.connect(port: port, tls: true)
                let reading = try await client.open(Self.hubPath + "?topic=big")
                try await reading.waitFor(text: ":\n")
                let stalled = try await client.open(Self.hubPath + "?topic=big")
                try await stalled.waitFor(text: ":\n")
                let stalledChannel = try #require(stalled.channel.withLockedValue { $0 })
                try await stalledChannel.setOption(.autoRead, value: false).get()

                // 1 MiB for a client that reads none of it, where 256 KiB may wait.
                let data = certificates.path("event.txt")
                try Data(repeating: UInt8(ascii: "x"), count: 64 * 1024).write(to: URL(fileURLWithPath: data))
                for n in 1...16 {
                    let answer = try await Curl.run([
                        "-k", "-d", "topic=big", "-d", "id=b\(n)", "--data-urlencode", "data@\(data)",
                        "-w", "\n%{http_code}", "https://127.0.0.1:\(port)\(Self.hubPath)",
                    ])
                    try #require(answer.standardOutput.hasSuffix("\n200"), "publish \(n): \(answer.standardOutput)")
                }
                try await reading.waitFor(text: "id: b16\n", timeout: .seconds(20))
                try await AbuseTests.eventually {
                    server.renderMetrics().contains(#"sse_sessions_closed_total{reason="slow_consumer"} 1"#)
                }
                #expect(server.renderMetrics().contains(#"sse_sessions_closed_total{reason="slow_consumer"} 1"#))
                #expect(server.renderMetrics().contains("sse_sessions_active 1"))
                await client.close()
            }
        }
    }

    @Test func streamAndHeaderLimitsAreEnforcedPerConnection() async throws {
        try await Self.withTLS { certificates in
            let configuration = Self.configuration(certificates) { configuration in
                configuration.server.http2.maxConcurrentStreams = 3
                configuration.server.http2.maxHeaderListSize = 4096
            }
            try await TestGateway.run(configuration: configuration) { server, port in
                let client = try await H2Client.connect(port: port, tls: true)
                var open: [H2Stream] = []
                for _ in 0..<3 {
                    let stream = try await client.open(Self.hubPath + "?topic=news")
                    try await stream.waitFor(text: ":\n")
                    open.append(stream)
                }
                // The gateway advertised 3: the client holds a fourth back until one of the three ends.
                let waiting = try await client.open(Self.hubPath + "?topic=news")
                #expect(server.renderMetrics().contains("sse_sessions_active 3"))
                #expect(waiting.status == nil)
                open[0].reset()
                try await waiting.waitFor(text: ":\n")
                #expect(server.renderMetrics().contains("sse_sessions_active 3"))

                // A header list beyond the limits is refused: by the HTTP/2 layer once the client has taken the
                // settings (the stream or connection ends), or by the gateway's own header limit (431) before.
                let large = try await H2Client.connect(port: port, tls: true)
                let oversized = try await large.open(
                    Self.hubPath + "?topic=news", headers: [("x-large", String(repeating: "a", count: 12_000))])
                let refusal = try await oversized.waitFor("the oversized request to be refused") {
                    $0.status != nil || $0.closed || $0.reset != nil
                }
                #expect(refusal.status == nil || refusal.status == "431", "\(refusal.status ?? "")")
                #expect(client.channel.isActive, "the other client's connection is untouched")
                await client.close()
                await large.close()
            }
        }
    }

    /// The real binary: SIGTERM with HTTP/2 streams open sends every stream the notice, and exits 0.
    @Test func sigtermWithHTTP2StreamsOpenSendsTheNoticeAndExitsZero() async throws {
        try await Self.withTLS { certificates in
            let config = certificates.path("config.json")
            try Data(
                """
                {"server": {"host": "127.0.0.1", "port": 0, "threads": 1,
                            "tls": {"certificateFile": "gateway.crt", "keyFile": "gateway.key"}},
                 "hub": {"store": {"type": "memory"}},
                 "shutdown": {"readinessGrace": "0s", "drainTimeout": "300ms"}}
                """.utf8
            ).write(to: URL(fileURLWithPath: config))
            let gateway = try GatewayProcess(arguments: ["serve", "--config", config])
            let port = try await gateway.port()
            var streams: [ChildProcess] = []
            for _ in 0..<3 {
                let stream = try Curl.start(["-k", "--http2", "https://127.0.0.1:\(port)\(Self.hubPath)?topic=news"])
                try await stream.waitFor("the stream to open", timeout: .seconds(10)) {
                    $0.standardOutput.hasPrefix(":")
                }
                streams.append(stream)
            }
            gateway.signal(SIGTERM)
            #expect(try await gateway.waitForExit() == 0)
            for stream in streams {
                let output = try await stream.waitFor("curl to end", timeout: .seconds(10)) { $0.isFinished }
                #expect(output.standardOutput.contains("event: shutdown\nretry: "), "\(output.standardOutput)")
                #expect(output.status == 0, "the stream ended cleanly: \(output.standardError)")
            }
        }
    }

    /// NIO's rapid-reset guard: a client that resets streams beyond the limit loses its connection.
    @Test func aClientResettingStreamsBeyondTheLimitLosesItsConnection() async throws {
        try await Self.withTLS { certificates in
            let configuration = Self.configuration(certificates) { $0.server.http2.maxStreamResets = 20 }
            try await TestGateway.run(configuration: configuration) { server, port in
                let client = try await H2Client.connect(port: port, tls: true)
                var resets = 0
                while client.channel.isActive, resets < 40 {
                    // The connection may close between the check above and this stream's opening.
                    guard let stream = try? await client.open(Self.hubPath + "?topic=news") else { break }
                    try await stream.waitFor("the stream to open or fail", timeout: .seconds(2)) {
                        $0.body.hasPrefix(":") || $0.closed || $0.reset != nil
                    }
                    stream.reset()
                    resets += 1
                }
                try await client.closed.wait(
                    for: 1, "the connection to be closed after \(resets) resets", timeout: .seconds(3))
                #expect(resets > 20 && resets <= 40, "closed after \(resets) resets")
                try await AbuseTests.eventually { server.renderMetrics().contains("sse_sessions_active 0") }
                #expect(server.renderMetrics().contains("sse_sessions_active 0"))
            }
        }
    }

    /// The connection closing ends every session it carried, each with its will-close listeners; over TLS and in
    /// cleartext (where the listener allows half-closure for HTTP/1.1, so a FIN must be taken as the client leaving).
    @Test(arguments: [true, false])
    func aConnectionClosingEndsEverySessionItCarried(tls: Bool) async throws {
        try await Self.withTLS { certificates in
            let clock = CloseClock()
            let configuration = Self.configuration(tls ? certificates : nil) { $0.server.http2.cleartext = true }
            try await TestGateway.run(middleware: [clock], configuration: configuration) { server, port in
                let other = try await H2Client.connect(port: port, tls: tls)
                let staying = try await other.open(Self.hubPath + "?topic=news")
                try await staying.waitFor(text: ":\n")
                let client = try await H2Client.connect(port: port, tls: tls)
                for _ in 0..<5 {
                    let stream = try await client.open(Self.hubPath + "?topic=news")
                    try await stream.waitFor(text: ":\n")
                }
                #expect(server.renderMetrics().contains("sse_sessions_active 6"))
                await client.close()
                try await clock.closed.wait(for: 5, "the five sessions of the closed connection to end")
                #expect(
                    clock.closes.withLockedValue { $0.map(\.reason) } == Array(repeating: .clientDisconnected, count: 5)
                )
                // The gauge drops just after the will-close listeners have run.
                try await AbuseTests.eventually { server.renderMetrics().contains("sse_sessions_active 1") }
                #expect(server.renderMetrics().contains("sse_sessions_active 1"))
                await other.close()
            }
        }
    }
}
