import Foundation
import Testing

/// A restart on the same port, as a deploy does it: nothing accepted is lost and the client catches up.
@Suite("reconnecting across a restart", .serialized)
struct ShutdownReconnectTests {
    static func config(port: Int) -> String {
        """
        {"server": {"host": "127.0.0.1", "port": \(port), "threads": 1, "retryAfter": "1s"},
         "hub": {"history": {"size": 100}},
         "shutdown": {"readinessGrace": "100ms", "drainTimeout": "10s",
                      "notice": {"retryMin": "100ms", "retryMax": "500ms"}}}
        """
    }

    @Test func aClientToldToReconnectGetsWhatItMissedFromTheNextProcess() async throws {
        let (old, port) = try await GatewayProcess.serve(config: Self.config(port: 0))

        let subscriber = try await TestSubscriber.open(port: port, query: "topic=a")
        let oldPublisher = try await TestPublisher.connect(port: port)
        let seen = try await oldPublisher.publish([("topic", "a"), ("data", "one")])
        #expect(seen.status == 200)
        _ = try await subscriber.client.waitFor(text: "data: one")

        old.signal(SIGTERM)
        _ = try await old.waitForOutput("step=close-listener")
        // Refused, not lost: the publisher is told to come back.
        let refused = try await oldPublisher.publish([("topic", "a"), ("data", "two")])
        #expect(refused.status == 503)
        #expect(refused.header("Retry-After") == "1")

        // The subscriber is told to reconnect, and leaves as a browser does.
        _ = try await subscriber.client.waitFor(text: "event: shutdown")
        let events = TestSubscriber.events(in: try await subscriber.body())
        let retry = try #require(events.last.flatMap { TestSubscriber.field("retry", of: $0) }.flatMap { Int($0) })
        #expect((100...500).contains(retry))
        try await subscriber.client.close()
        // It was the last client, so the old process ends its drain at once rather than after 10 s.
        #expect(try await old.waitForExit() == 0)
        #expect(old.output.contains("remaining=0 step=drain"))

        // The next process takes the same port; the publisher retries there, and publishes on.
        let (new, newPort) = try await GatewayProcess.serve(config: Self.config(port: port))
        #expect(newPort == port)
        let newPublisher = try await TestPublisher.connect(port: port)
        #expect(try await newPublisher.publish([("topic", "a"), ("data", "two")]).status == 200)
        #expect(try await newPublisher.publish([("topic", "a"), ("data", "three")]).status == 200)

        // Reconnecting with the id it last saw: unknown to the new process, which replays all it holds.
        let resumed = try await TestSubscriber.open(
            port: port, query: "topic=a", headers: ["Last-Event-ID: \(seen.body)"])
        let replayed = try await resumed.waitForEvents(2)
        #expect(replayed.map { TestSubscriber.field("data", of: $0) } == ["two", "three"])
        #expect(try await resumed.head().contains("Last-Event-ID: earliest"))

        try await resumed.client.close()
        new.signal(SIGTERM)
        #expect(try await new.waitForExit() == 0)
    }
}
