import Auth
import Compression
import Heartbeat
import NIOConcurrencyHelpers
import NIOCore
import Testing
import Timeout

@testable import SSEGateway

/// Counts will-close listeners that have run, resuming a waiter when a target is reached.
private final class CloseCounter: Middleware {
    private let state = NIOLockedValueBox<(closed: Int, waiter: (target: Int, CheckedContinuation<Void, Never>)?)>(
        (0, nil))

    /// Registered when the stream opens, after every built-in has registered its own listeners, so it runs last.
    func makeStreamFilter(for stream: SessionStream) -> (any StreamFilter)? {
        stream.session.addWillCloseListener { _, _ in
            let resume: CheckedContinuation<Void, Never>? = self.state.withLockedValue { state in
                state.closed += 1
                guard let (target, continuation) = state.waiter, state.closed >= target else { return nil }
                state.waiter = nil
                return continuation
            }
            resume?.resume()
        }
        return nil
    }

    func waitUntilClosed(_ target: Int) async {
        await withCheckedContinuation { continuation in
            let done = self.state.withLockedValue { state -> Bool in
                if state.closed >= target { return true }
                state.waiter = (target, continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}

/// Every built-in releases what it holds per session only through will-close listeners: after 10,000 sessions have
/// opened and closed, no timer, zlib stream, expiry timer or session (with its attributes) is left.
@Suite("built-in middleware cleanup", .serialized)
struct PluginCleanupTests {
    static let secret = "cleanup-test-secret-that-is-long-enough-for-hs256"

    @Test(.timeLimit(.minutes(3)))
    func tenThousandSessionsLeaveNothingBehind() async throws {
        let configuration = try GatewayConfiguration.testing(
            json: """
                {"streams": {"closeListenerTimeout": "5s"},
                 "middleware": [
                    {"use": "cors", "origins": ["http://127.0.0.1:3000"], "credentials": true},
                    {"use": "auth", "anonymous": true,
                     "subscriber": {"algorithm": "HS256", "key": "\(Self.secret)"},
                     "publisher": {"algorithm": "HS256", "key": "\(Self.secret)"}},
                    {"use": "compression"},
                    {"use": "heartbeat", "interval": "10s"},
                    {"use": "timeout", "idle": "10m", "maxLifetime": "1h"},
                    {"use": "request-logger", "level": "trace"}
                 ]}
                """)
        let token = try await BrowserTests.token(publish: [], subscribe: ["*"], secret: Self.secret)
        let counter = CloseCounter()
        let environment = try await TestGateway.run(middleware: [counter], configuration: configuration) {
            server, port in
            let rounds = 20
            let perRound = 500
            for round in 0..<rounds {
                let clients = try await withThrowingTaskGroup(of: RawClient.self) { group in
                    for index in 0..<perRound {
                        group.addTask {
                            let client = try await RawClient.connect(port: port)
                            try await client.sendRequest(
                                "GET", "/.well-known/mercure?topic=t\(index % 10)",
                                headers: [
                                    "Origin: http://127.0.0.1:3000", "Accept-Encoding: gzip",
                                    "Authorization: Bearer \(token)",
                                ])
                            _ = try await client.waitFor(text: "Content-Encoding: gzip", timeout: .seconds(30))
                            return client
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(server.metric("sse_compression_streams_active") == Double(perRound))
                #expect(server.metric("sse_auth_expiry_timers_active") == Double(perRound))
                // Events and closes race on purpose: half the clients leave with FIN, half with RST.
                let publisher = try await TestPublisher.connect(port: port)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, client) in clients.enumerated() {
                        group.addTask { index % 2 == 0 ? try await client.close() : try await client.reset() }
                    }
                    _ = try await publisher.publish([("topic", "t\(round % 10)"), ("data", "x")])
                    try await group.waitForAll()
                }
                try await publisher.client.close()
                await counter.waitUntilClosed((round + 1) * perRound)
            }
            // Releases that hop onto a stream's event loop may land just after the last listener has returned.
            try await Self.eventually { server.metric("sse_compression_streams_active") == 0 }
            try await Self.eventually { server.metric("sse_heartbeat_timers_active") == 0 }
            try await Self.eventually { server.metric("sse_timeout_timers_active") == 0 }
            #expect(server.metric("sse_auth_expiry_timers_active") == 0)
            #expect(server.metric("sse_compression_streams_active") == 0)
            #expect(server.metric("sse_heartbeat_timers_active") == 0)
            #expect(server.metric("sse_timeout_timers_active") == 0)
            #expect(server.metric("sse_sessions_active") == 0)
            #expect(server.metric("sse_stream_duration_seconds_count") == Double(rounds * perRound))
            return server.sessionEnvironment
        }
        // Sessions (and the attributes they carry) are freed once nothing refers to them any more.
        try await Self.eventually { environment.liveSessions.load(ordering: .relaxed) == 0 }
        #expect(environment.liveSessions.load(ordering: .relaxed) == 0)
    }

    /// Polls a counter that has no event to await, up to a deadline.
    static func eventually(within limit: Duration = .seconds(10), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + limit
        while !condition(), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
