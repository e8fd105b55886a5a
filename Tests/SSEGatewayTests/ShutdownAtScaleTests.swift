import Foundation
import Testing

/// SIGTERM with thousands of open streams: the sequence's cost must stay inside its budgets.
@Suite("shutdown of sse-gateway serve with 5,000 streams", .serialized)
struct ShutdownAtScaleTests {
    static let streamCount = 5_000
    static let grace = Duration.milliseconds(200)
    static let drain = Duration.seconds(1)
    /// Two handlers run: the probe's and the core's `metrics`, each under `handlerTimeout`. Sending the notices and
    /// closing 5,000 streams costs about 0.4 s in a release build and up to 2.8 s in a debug build on a busy 2-core
    /// machine, which these budgets leave room for.
    static let handlerBudget = Duration.milliseconds(2 * 2500)

    static let config = #"""
        {"server": {"host": "127.0.0.1", "port": 0, "threads": 2, "backlog": 4096},
         "hub": {"history": {"size": 10}},
         "middleware": [{"use": "shutdown-probe", "logEachClose": false,
                         "handlers": [{"name": "flush", "behaviour": "finish"}]}],
         "shutdown": {"readinessGrace": "200ms", "drainTimeout": "1s", "handlerTimeout": "2500ms",
                      "notice": {"event": "bye", "data": "going away", "retryMin": "1s", "retryMax": "30s"},
                      "hardDeadline": "20s"}}
        """#

    @Test func everyStreamIsNotifiedAndClosedWithinTheBudgets() async throws {
        let (gateway, port) = try await GatewayProcess.serve(config: Self.config, enableTestPlugins: true)
        let publisher = try await TestPublisher.connect(port: port)
        let first = try await publisher.publish([("topic", "a"), ("data", "first")])
        #expect(first.status == 200)

        let subscribers = try await Self.open(Self.streamCount, port: port, lastEventID: first.body)
        #expect(subscribers.count == Self.streamCount)

        let signalled = ContinuousClock.now
        gateway.signal(SIGTERM)
        let status = try await gateway.waitForExit()
        let elapsed = ContinuousClock.now - signalled
        let budget = Self.grace + Self.drain + Self.handlerBudget + .seconds(1)
        #expect(status == 0)
        #expect(elapsed < budget, "gone in \(elapsed), budget \(budget)")

        // Every client got the notice with a retry in range, then the end of its chunked body.
        var retries = Set<Int>()
        for subscriber in subscribers {
            let received = try await subscriber.client.waitForClose(timeout: .seconds(5))
            #expect(received.hasSuffix("0\r\n\r\n"))
            let events = TestSubscriber.events(in: try await subscriber.body())
            let notice = try #require(events.last)
            #expect(TestSubscriber.field("event", of: notice) == "bye")
            #expect(TestSubscriber.field("data", of: notice) == "going away")
            let retry = try #require(TestSubscriber.field("retry", of: notice).flatMap { Int($0) })
            #expect((1_000...30_000).contains(retry))
            retries.insert(retry)
        }
        #expect(retries.count > Self.streamCount / 10, "retries spread: \(retries.count) distinct values")

        let output = gateway.output
        #expect(output.contains("step=notice streams=\(Self.streamCount)"))
        #expect(output.contains("sessions=\(Self.streamCount) step=close-sessions"))
        // Every will-close listener ran by the time the handlers started, each with reason shutdown.
        #expect(output.contains("closes=server_shutdown:\(Self.streamCount) handler=flush"))

        let steps = try Regex(#"ms=([0-9]+)(?: [a-z]+=[^ ]+)* step=([a-z-]+)"#)
        let timings = output.matches(of: steps).map {
            "\($0.output[2].substring ?? "?") \($0.output[1].substring ?? "?") ms"
        }
        print(
            "shutdown of \(Self.streamCount) streams: exit after \(elapsed); steps: \(timings.joined(separator: ", "))")
    }

    /// Opens `count` subscribers, `batch` at a time, each resuming from `lastEventID`.
    static func open(_ count: Int, port: Int, lastEventID: String, batch: Int = 100) async throws -> [TestSubscriber] {
        var subscribers: [TestSubscriber] = []
        subscribers.reserveCapacity(count)
        for start in stride(from: 0, to: count, by: batch) {
            try await withThrowingTaskGroup(of: TestSubscriber.self) { group in
                for _ in start..<min(start + batch, count) {
                    group.addTask {
                        try await TestSubscriber.open(
                            port: port, query: "topic=a", headers: ["Last-Event-ID: \(lastEventID)"])
                    }
                }
                for try await subscriber in group { subscribers.append(subscriber) }
            }
        }
        return subscribers
    }
}
