import Foundation
import Testing

/// The shutdown sequence of the real `sse-gateway` binary, watched through its log (with the `shutdown-probe`
/// plugin, which `--enable-test-plugins` makes available) and through real clients.
@Suite("shutdown sequence of sse-gateway serve", .serialized)
struct ShutdownProcessTests {
    static let subscriberCount = 20

    static let config = #"""
        {"server": {"host": "127.0.0.1", "port": 0, "threads": 2, "retryAfter": "2s"},
         "hub": {"history": {"size": 10}},
         "middleware": [{"use": "shutdown-probe", "handlers": [
             {"name": "fast", "behaviour": "finish"},
             {"name": "broken", "behaviour": "throw"},
             {"name": "stuck", "behaviour": "hang"}]}],
         "shutdown": {"readinessGrace": "2s", "drainTimeout": "300ms", "handlerTimeout": "3s",
                      "handlers": {"stuck": "500ms"},
                      "notice": {"event": "bye", "data": "going away", "retryMin": "100ms", "retryMax": "5s"},
                      "hardDeadline": "10s"}}
        """#

    @Test func sigtermRunsTheWholeSequenceInOrder() async throws {
        let (gateway, port) = try await GatewayProcess.serve(config: Self.config, enableTestPlugins: true)

        let publisher = try await TestPublisher.connect(port: port)
        let first = try await publisher.publish([("topic", "a"), ("data", "first")])
        #expect(first.status == 200)
        var subscribers: [TestSubscriber] = []
        for _ in 0..<Self.subscriberCount {
            subscribers.append(
                try await TestSubscriber.open(port: port, query: "topic=a", headers: ["Last-Event-ID: \(first.body)"])
            )
        }
        // Accepted before shutdown began: every subscriber must get it before its stream closes.
        #expect(try await publisher.publish([("topic", "a"), ("data", "before")]).status == 200)

        let signalled = ContinuousClock.now
        gateway.signal(SIGTERM)
        _ = try await gateway.waitForOutput("step=readiness")

        // During the grace: not ready, yet new connections are accepted and streams still flow.
        let probe = try await RawClient.connect(port: port)
        try await probe.sendRequest("GET", "/readyz")
        #expect(try await probe.readResponse().status == 503)
        #expect(try await publisher.publish([("topic", "a"), ("data", "during-grace")]).status == 200)
        for subscriber in subscribers {
            try await subscriber.client.waitFor(text: "data: during-grace")
        }
        #expect(!gateway.output.contains("step=grace"), "the checks above ran inside the grace")

        // After the grace: the listener is closed and publishes on open connections get 503 with Retry-After.
        _ = try await gateway.waitForOutput("step=close-listener")
        await #expect(throws: (any Error).self) { try await RawClient.connect(port: port) }
        let refused = try await publisher.publish([("topic", "a"), ("data", "after")])
        #expect(refused.status == 503)
        #expect(refused.header("Retry-After") == "2")

        var retries: [Int] = []
        for subscriber in subscribers {
            try await subscriber.client.waitForClose(timeout: .seconds(10))
            let events = TestSubscriber.events(in: try await subscriber.body())
            #expect(events.map { TestSubscriber.field("data", of: $0) } == ["before", "during-grace", "going away"])
            let notice = try #require(events.last)
            #expect(TestSubscriber.field("event", of: notice) == "bye")
            let retry = try #require(TestSubscriber.field("retry", of: notice).flatMap { Int($0) })
            #expect((100...5000).contains(retry))
            retries.append(retry)
        }
        #expect(Set(retries).count > 1, "retry values spread: \(retries)")

        let status = try await gateway.waitForExit()
        let elapsed = ContinuousClock.now - signalled
        #expect(status == 3, "a handler threw and one overran")
        #expect(elapsed < .seconds(10), "within the hard deadline")
        let output = gateway.output

        // The steps, in order.
        let marks = [
            "step=readiness", "step=grace", "step=close-listener", "step=notice", "step=drain",
            "probe will-close", "step=close-sessions",
            "handler=stuck middleware=shutdown-probe [ShutdownProbe] probe handler started",
            "handler=broken middleware=shutdown-probe [ShutdownProbe] probe handler started",
            "handler=fast middleware=shutdown-probe [ShutdownProbe] probe handler started",
            "handler=fast middleware=shutdown-probe [ShutdownProbe] probe handler finished",
            "final metrics",  // the core's own handler, registered first, runs last
            "handler=metrics ms=",
            "shutdown sequence ended",
        ]
        let positions = try marks.map { mark in try #require(output.range(of: mark), "\(mark) logged").lowerBound }
        #expect(positions == positions.sorted(), "steps out of order:\n\(output)")

        // What each step did: every stream notified, none left during the short drain, all closed by the gateway.
        #expect(output.contains("step=notice streams=\(Self.subscriberCount)"))
        #expect(output.contains("remaining=\(Self.subscriberCount) step=drain"))
        #expect(output.contains("sessions=\(Self.subscriberCount) step=close-sessions"))
        #expect(output.contains("sse_events_published_total=3"), "the final metrics count the three publishes")

        // Will-close listeners: once per session, with reason shutdown.
        let closes = output.split(separator: "\n").filter { $0.contains("probe will-close") }
        #expect(closes.count == Self.subscriberCount)
        #expect(closes.allSatisfy { $0.contains("reason=server_shutdown") })
        let sessions = Set(closes.compactMap { line in line.split(separator: " ").first { $0.hasPrefix("session=") } })
        #expect(sessions.count == Self.subscriberCount)

        // Handlers: the hanging one cut at its own timeout, the throwing one named, the others still ran.
        let stuck = try #require(try Regex("handler=stuck ms=([0-9]+) outcome=timedOut").firstMatch(in: output))
        let stuckMilliseconds = try #require(stuck.output[1].substring.flatMap { Int($0) })
        #expect((400...600).contains(stuckMilliseconds), "cut at 500 ms ± 100, took \(stuckMilliseconds)")
        #expect(output.contains("handler=broken [SSEGateway] shutdown handler threw"))
        #expect(output.contains("handler=fast ms="))
        #expect(output.contains("exitCode=3"))
    }

    @Test func secondSignalExitsFast() async throws {
        let (gateway, port) = try await GatewayProcess.serve(
            config: Self.config.replacingOccurrences(of: #""readinessGrace": "2s""#, with: #""readinessGrace": "5s""#),
            enableTestPlugins: true
        )
        let subscriber = try await TestSubscriber.open(port: port, query: "topic=a")

        let signalled = ContinuousClock.now
        gateway.signal(SIGTERM)
        _ = try await gateway.waitForOutput("step=readiness")
        gateway.signal(SIGINT)
        let status = try await gateway.waitForExit()
        let elapsed = ContinuousClock.now - signalled

        #expect(status == 5)
        #expect(elapsed < .seconds(4), "well before the 5 s grace would end: \(elapsed)")
        let output = gateway.output
        #expect(output.contains("second shutdown signal (SIGINT): fast exit"))
        #expect(!output.contains("step=grace"))
        try await subscriber.client.waitForClose()
    }

    @Test func hardDeadlineBoundsTheSequence() async throws {
        let (gateway, _) = try await GatewayProcess.serve(
            config: #"""
                {"server": {"host": "127.0.0.1", "port": 0, "threads": 1},
                 "middleware": [{"use": "shutdown-probe", "handlers": [{"name": "stuck", "behaviour": "hang"}]}],
                 "shutdown": {"readinessGrace": "100ms", "drainTimeout": "100ms", "handlerTimeout": "20s",
                              "hardDeadline": "1s"}}
                """#,
            enableTestPlugins: true
        )
        let signalled = ContinuousClock.now
        gateway.signal(SIGTERM)
        let status = try await gateway.waitForExit()
        let elapsed = ContinuousClock.now - signalled
        #expect(status == 4)
        #expect(elapsed >= .milliseconds(900), "not before the deadline: \(elapsed)")
        #expect(elapsed < .seconds(5), "the 20 s handler timeout did not hold the process: \(elapsed)")
        #expect(gateway.output.contains("shutdown hard deadline reached"))
    }
}
