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
        let firstPath = try writeConfig(Self.config(port: 0))
        defer { try? FileManager.default.removeItem(atPath: firstPath) }
        let old = try GatewayProcess(arguments: ["serve", "--config", firstPath])
        let port = try await old.port()

        let subscriber = try await TestSubscriber.open(port: port, query: "topic=a")
        let oldPublisher = try await TestPublisher.connect(port: port)
        let seen = try await oldPublisher.publish([("topic", "a"), ("data", "one")])
        #expect(seen.status == 200)
        _ = try await subscriber.client.waitFor(text: "data: one")

        old.signal(SIGTERM)
        _ = await old.waitForOutput("step=close-listener")
        // Refused, not lost: the publisher is told to come back.
        let refused = try await oldPublisher.publish([("topic", "a"), ("data", "two")])
        #expect(refused.status == 503)
        #expect(refused.header("Retry-After") == "1")

        // The subscriber is told to reconnect, and leaves as a browser does.
        _ = try await subscriber.client.waitFor(text: "event: shutdown")
        let events = TestSubscriber.events(in: try await subscriber.body())
        let retry = try #require(
            events.last?.split(separator: "\n").first { $0.hasPrefix("retry: ") }.flatMap { Int($0.dropFirst(7)) }
        )
        #expect((100...500).contains(retry))
        try await subscriber.client.close()
        // It was the last client, so the old process ends its drain at once rather than after 10 s.
        #expect(await old.waitForExit() == 0)
        #expect(old.output.contains("remaining=0 step=drain"))

        // The next process takes the same port; the publisher retries there, and publishes on.
        let secondPath = try writeConfig(Self.config(port: port))
        defer { try? FileManager.default.removeItem(atPath: secondPath) }
        let new = try GatewayProcess(arguments: ["serve", "--config", secondPath])
        #expect(try await new.port() == port)
        let newPublisher = try await TestPublisher.connect(port: port)
        #expect(try await newPublisher.publish([("topic", "a"), ("data", "two")]).status == 200)
        #expect(try await newPublisher.publish([("topic", "a"), ("data", "three")]).status == 200)

        // Reconnecting with the id it last saw: unknown to the new process, which replays all it holds.
        let resumed = try await TestSubscriber.open(
            port: port, query: "topic=a", headers: ["Last-Event-ID: \(seen.body)"])
        let replayed = try await resumed.waitForEvents(2)
        let data = replayed.map { $0.split(separator: "\n").first { $0.hasPrefix("data: ") } }
        #expect(data == ["data: two", "data: three"])
        #expect(try await resumed.head().contains("Last-Event-ID: earliest"))

        try await resumed.client.close()
        new.signal(SIGTERM)
        #expect(await new.waitForExit() == 0)
    }
}
