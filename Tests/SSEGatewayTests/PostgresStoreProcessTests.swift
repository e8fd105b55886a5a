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
