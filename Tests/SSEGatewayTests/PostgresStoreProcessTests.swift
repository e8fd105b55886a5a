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
