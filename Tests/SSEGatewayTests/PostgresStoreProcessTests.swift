import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// The `postgres` store through the real binary: several gateways on one throwaway PostgreSQL server behave as one
/// hub.
@Suite(
    "postgres store of sse-gateway serve", .serialized, .timeLimit(.minutes(3)),
    .enabled(if: PostgresCluster.canRun, PostgresCluster.skipMessage))
struct PostgresStoreProcessTests {
    static func serve(
        _ cluster: PostgresCluster,
        store extra: String = "",
        history: String = "{}"
    ) async throws -> (gateway: GatewayProcess, port: Int) {
        try await GatewayProcess.serve(
            config: """
                {"server": {"host": "127.0.0.1", "port": 0, "threads": 2},
                 "hub": {"store": {"type": "postgres", "url": "\(cluster.url)", "tls": "disable"\(extra)},
                         "history": \(history)},
                 "shutdown": {"readinessGrace": "0s", "drainTimeout": "0s"}}
                """)
    }

    @Test func twoNodesDeliverEveryEventToEverySubscriberOnceInOneOrder() async throws {
        try await PostgresCluster.with { cluster in
            let (a, portA) = try await Self.serve(cluster)
            let (b, portB) = try await Self.serve(cluster)
            var subscribers: [TestSubscriber] = []
            for port in [portA, portB] {
                for _ in 0..<20 {
                    subscribers.append(try await TestSubscriber.open(port: port, query: "topic=shared"))
                }
            }
            let total = 300
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, port) in [portA, portB].enumerated() {
                    group.addTask {
                        let publisher = try await TestPublisher.connect(port: port)
                        for n in stride(from: index + 1, through: total, by: 2) {
                            let answer = try await publisher.publish([("topic", "shared"), ("id", "urn:test:s\(n)")])
                            #expect(answer.status == 200, "\(answer.body)")
                        }
                    }
                }
                try await group.waitForAll()
            }
            var orders: [[String]] = []
            for subscriber in subscribers {
                try await subscriber.waitForEvents(total, timeout: .seconds(30))
                orders.append(try await subscriber.ids())
            }
            let first = try #require(orders.first)
            #expect(Set(first) == Set((1...total).map { "urn:test:s\($0)" }))
            #expect(first.count == total, "each event once")
            #expect(orders.allSatisfy { $0 == first }, "every subscriber on either node sees the one order")

            // A cursor published through one node resumes on the other.
            let cursor = first[99]
            let replay = try await TestSubscriber.open(
                port: portB, query: "topic=shared", headers: ["Last-Event-ID: \(cursor)"])
            let replayed = try await replay.waitForEvents(total - 100, timeout: .seconds(10))
            #expect(replayed.compactMap { TestSubscriber.field("id", of: $0) } == Array(first[100...]))
            #expect(try await replay.head().contains("Last-Event-ID: \(cursor)\r\n"))

            for gateway in [a, b] {
                gateway.signal(SIGTERM)
                #expect(try await gateway.waitForExit() == 0, "\(gateway.output)")
            }
            let rows = try await cluster.psql("SELECT count(*) FROM sse_events")
            #expect(rows.trimmingCharacters(in: .whitespacesAndNewlines) == "\(total)")
        }
    }

    @Test func postgresStoppedForTwoSecondsIsAnswered503ThenCaughtUpWithoutAGap() async throws {
        try await PostgresCluster.with { cluster in
            let (a, portA) = try await Self.serve(cluster)
            let (b, portB) = try await Self.serve(cluster)
            let onA = try await TestSubscriber.open(port: portA, query: "topic=outage")
            let onB = try await TestSubscriber.open(port: portB, query: "topic=outage")
            let publisher = try await TestPublisher.connect(port: portA)
            #expect(try await publisher.publish([("topic", "outage"), ("id", "urn:test:o1")]).status == 200)

            try await cluster.stopServer()
            let stopped = ContinuousClock.now
            let refused = try await publisher.publish([("topic", "outage"), ("id", "urn:test:lost")])
            #expect(refused.status == 503, "\(refused.status) \(refused.body)")
            #expect(refused.header("Retry-After") != nil)
            #expect(ContinuousClock.now - stopped < .seconds(5), "refused promptly")
            #expect(try await Self.readiness(port: portA) == 503)
            try await Task.sleep(for: .seconds(2) - (ContinuousClock.now - stopped))
            try await cluster.startServer()

            // Ready again by itself, then publishes through either node reach both streams, which stayed open.
            for port in [portA, portB] {
                let deadline = ContinuousClock.now + .seconds(20)
                while try await Self.readiness(port: port) != 200 {
                    try #require(ContinuousClock.now < deadline, "node on \(port) did not recover")
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            let other = try await TestPublisher.connect(port: portB)
            #expect(try await other.publish([("topic", "outage"), ("id", "urn:test:o2")]).status == 200)
            #expect(try await publisher.publish([("topic", "outage"), ("id", "urn:test:o3")]).status == 200)
            for subscriber in [onA, onB] {
                try await subscriber.waitForEvents(3, timeout: .seconds(10))
                #expect(try await subscriber.ids() == ["urn:test:o1", "urn:test:o2", "urn:test:o3"])
            }
            for gateway in [a, b] {
                gateway.signal(SIGTERM)
                #expect(try await gateway.waitForExit() == 0, "\(gateway.output)")
            }
        }
    }

    @Test func aNodeKilledWithSIGKILLLosesNothingItAcknowledged() async throws {
        try await PostgresCluster.with { cluster in
            let (a, portA) = try await Self.serve(cluster)
            let (b, portB) = try await Self.serve(cluster)
            let onB = try await TestSubscriber.open(port: portB, query: "topic=crash")
            let acked = NIOLockedValueBox<[String]>([])
            let counter = EventCounter()
            let storm = Task {
                let publisher = try await TestPublisher.connect(port: portA)
                for n in 1...10_000 {
                    guard let answer = try? await publisher.publish([("topic", "crash"), ("id", "urn:test:k\(n)")]),
                        answer.status == 200
                    else { return }
                    acked.withLockedValue { $0.append("urn:test:k\(n)") }
                    counter.increment()
                }
            }
            try await counter.wait(for: 100, "100 publishes acknowledged by node A")
            a.signal(SIGKILL)
            _ = try await a.waitForExit()
            try await storm.value
            let answered = acked.withLockedValue { $0 }
            let last = try #require(answered.last)
            try await onB.client.waitFor(text: "id: \(last)\n", timeout: .seconds(10))
            let live = try await onB.ids()
            #expect(
                Array(live.prefix(answered.count)) == answered, "node B delivered every acknowledged event in order")
            let replay = try await TestSubscriber.open(
                port: portB, query: "topic=crash", headers: ["Last-Event-ID: earliest"])
            try await replay.client.waitFor(text: "id: \(last)\n", timeout: .seconds(10))
            #expect(Array(try await replay.ids().prefix(answered.count)) == answered)
            b.signal(SIGTERM)
            #expect(try await b.waitForExit() == 0, "\(b.output)")
        }
    }

    /// Two nodes restarted one after the other under a steady publish stream, with 100 clients that reconnect like
    /// `EventSource` to whichever node is up.
    @Test func aRollingRestartLosesAndDuplicatesNothingAndSpreadsTheReconnects() async throws {
        try await PostgresCluster.with { cluster in
            let shutdown =
                #""shutdown": {"readinessGrace": "300ms", "drainTimeout": "500ms", "#
                + #""notice": {"retryMin": "500ms", "retryMax": "3s"}}"#
            func node() async throws -> (GatewayProcess, Int) {
                try await GatewayProcess.serve(
                    config: """
                        {"server": {"host": "127.0.0.1", "port": 0, "threads": 2},
                         "hub": {"store": {"type": "postgres", "url": "\(cluster.url)", "tls": "disable"}},
                         \(shutdown)}
                        """)
            }
            var (a, portA) = try await node()
            var (b, portB) = try await node()
            let balancer = LoadBalancer(ports: [portA, portB])
            let finalID = "urn:test:final"
            let deadline = ContinuousClock.now + .seconds(120)
            var clients: [EventSourceClient] = []
            var readers: [Task<Void, any Error>] = []
            for _ in 0..<100 {
                let client = EventSourceClient(query: "topic=rolling", balancer: balancer)
                readers.append(try await client.start(until: finalID, deadline: deadline))
                clients.append(client)
            }

            // A steady stream, about 50 a second, each publish retried on another node until one answers 200.
            let acked = NIOLockedValueBox<[String]>([])
            let stop = NIOLockedValueBox(false)
            @Sendable func publish(_ id: String) async throws {
                while true {
                    for port in balancer.current {
                        if let publisher = try? await TestPublisher.connect(port: port),
                            let answer = try? await publisher.publish([("topic", "rolling"), ("id", id)]),
                            answer.status == 200
                        {
                            try? await publisher.client.close()
                            return
                        }
                    }
                    guard ContinuousClock.now < deadline else {
                        throw TestTimeout(what: "a node to publish", received: id)
                    }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            let publisher = Task {
                var n = 0
                while !stop.withLockedValue({ $0 }) {
                    n += 1
                    try await publish("urn:test:r\(n)")
                    acked.withLockedValue { $0.append("urn:test:r\(n)") }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }

            try await Task.sleep(for: .seconds(1))
            let restartStarted = ContinuousClock.now
            for index in 0..<2 {
                let (gateway, port) = index == 0 ? (a, portA) : (b, portB)
                gateway.signal(SIGTERM)
                #expect(try await gateway.waitForExit() == 0, "\(gateway.output)")
                let (restarted, newPort) = try await node()
                balancer.replace(port, with: newPort)
                if index == 0 { (a, portA) = (restarted, newPort) } else { (b, portB) = (restarted, newPort) }
            }
            // Long enough for the last reconnects (retryMax) to land on the restarted nodes.
            try await Task.sleep(for: .seconds(4))
            stop.withLockedValue { $0 = true }
            try await publisher.value
            try await publish(finalID)
            for reader in readers { try await reader.value }

            let answered = acked.withLockedValue { $0 }
            // About 50 a second when the machine is idle; a busy one makes a fraction of that (53 seen), which is
            // still a stream across both restarts.
            #expect(answered.count > 30, "\(answered.count) publishes acknowledged")
            var reconnects: [ContinuousClock.Instant] = []
            for (index, client) in clients.enumerated() {
                let ids = client.ids.filter { $0 != finalID }
                #expect(Set(ids).count == ids.count, "client \(index) got an event twice")
                let order = ids.filter { Set(answered).contains($0) }
                #expect(order == answered, "client \(index): every acknowledged event once, in order")
                reconnects += client.reconnects
            }
            #expect(reconnects.count >= 100, "every client reconnected at least once (\(reconnects.count))")
            let starts = reconnects.map { restartStarted.duration(to: $0) }.sorted()
            var peak = 0
            for (index, start) in starts.enumerated() {
                peak = max(peak, starts[index...].prefix { $0 - start < .milliseconds(100) }.count)
            }
            #expect(peak <= reconnects.count / 5, "\(peak) of \(reconnects.count) reconnects in one 100 ms window")
            print(
                "rolling restart: \(clients.count) clients, \(answered.count) acknowledged events, "
                    + "\(reconnects.count) reconnects, peak \(peak) in 100 ms")
            for gateway in [a, b] {
                gateway.signal(SIGTERM)
                #expect(try await gateway.waitForExit() == 0, "\(gateway.output)")
            }
        }
    }

    static func readiness(port: Int) async throws -> Int {
        let client = try await RawClient.connect(port: port)
        try await client.sendRequest("GET", "/readyz")
        let response = try await client.readResponse()
        try await client.close()
        return response.status
    }

    @Test func anUnreachableServerStopsTheGatewayAtStartupNamingTheSetting() async throws {
        let config = try writeConfig(
            #"""
            {"server": {"host": "127.0.0.1", "port": 0},
             "hub": {"store": {"type": "postgres", "url": "postgres://nobody@127.0.0.1:1/x", "tls": "disable",
                               "connectTimeout": "1s"}}}
            """#)
        defer { try? FileManager.default.removeItem(atPath: config) }
        let result = try await GatewayProcess.run(["serve", "--config", config], timeout: .seconds(20))
        #expect(result.status == 1)
        #expect(result.error.contains("hub.store.url: cannot use PostgreSQL at 127.0.0.1:1"), "\(result.error)")
    }
}
