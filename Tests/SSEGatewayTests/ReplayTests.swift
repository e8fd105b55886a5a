import NIOCore
import Testing

@testable import SSEGateway

@Suite("History and Last-Event-ID replay over loopback")
struct ReplayTests {
    private func publishFive(_ publisher: TestPublisher) async throws {
        for index in 1...5 {
            try await publisher.publish([("topic", "r"), ("id", "a\(index)"), ("data", "d\(index)")])
        }
    }

    @Test func headerCursorReplaysWhatFollowsAndEchoesIt() async throws {
        try await TestGateway.run { _, port in
            let publisher = try await TestPublisher.connect(port: port)
            try await self.publishFive(publisher)
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=r", headers: ["Last-Event-ID: a2"])
            try await subscriber.waitForEvents(3)
            #expect(try await subscriber.head().contains("Last-Event-ID: a2\r\n"))
            try await publisher.publish([("topic", "r"), ("id", "live")])
            try await subscriber.waitForEvents(4)
            #expect(try await subscriber.ids() == ["a3", "a4", "a5", "live"])
        }
    }

    @Test func headerBeatsQueryParameter() async throws {
        try await TestGateway.run { _, port in
            let publisher = try await TestPublisher.connect(port: port)
            try await self.publishFive(publisher)
            let subscriber = try await TestSubscriber.open(
                port: port,
                query: "topic=r&lastEventID=a1",
                headers: ["Last-Event-ID: a3"]
            )
            try await publisher.publish([("topic", "r"), ("id", "live")])
            try await subscriber.waitForEvents(3)
            #expect(try await subscriber.ids() == ["a4", "a5", "live"])
            let byQuery = try await TestSubscriber.open(port: port, query: "topic=r&lastEventID=a4")
            try await byQuery.waitForEvents(2)
            #expect(try await byQuery.ids() == ["a5", "live"])
            #expect(try await byQuery.head().contains("Last-Event-ID: a4\r\n"))
        }
    }

    @Test func earliestAndUnknownReplayEverythingRetained() async throws {
        try await TestGateway.run(configuration: .testing { $0.hub.history.size = 4 }) { _, port in
            let publisher = try await TestPublisher.connect(port: port)
            try await self.publishFive(publisher)
            let earliest = try await TestSubscriber.open(port: port, query: "topic=r&lastEventID=earliest")
            try await earliest.waitForEvents(4)
            #expect(try await earliest.ids() == ["a2", "a3", "a4", "a5"])
            #expect(try await earliest.head().contains("Last-Event-ID: earliest\r\n"))
            let unknown = try await TestSubscriber.open(port: port, query: "topic=r", headers: ["Last-Event-ID: a1"])
            try await unknown.waitForEvents(4)
            #expect(try await unknown.ids() == ["a2", "a3", "a4", "a5"])
            #expect(try await unknown.head().contains("Last-Event-ID: earliest\r\n"))
        }
    }

    @Test func unknownCursorReplaysNothingWhenSwitchedOff() async throws {
        try await TestGateway.run(configuration: .testing { $0.hub.history.replayUnknownID = false }) { _, port in
            let publisher = try await TestPublisher.connect(port: port)
            try await self.publishFive(publisher)
            let unknown = try await TestSubscriber.open(port: port, query: "topic=r", headers: ["Last-Event-ID: zz"])
            try await publisher.publish([("topic", "r"), ("id", "live")])
            try await unknown.waitForEvents(1)
            #expect(try await unknown.ids() == ["live"])
            #expect(try await unknown.head().contains("Last-Event-ID: earliest\r\n"))
        }
    }

    @Test func replayMeetsLiveWithoutGapOrDuplicateDuringAPublishStorm() async throws {
        try await TestGateway.run(configuration: .testing { $0.hub.history.size = 10_000 }) { _, port in
            let reference = try await TestSubscriber.open(port: port, query: "topic=s")
            let publishers = [try await TestPublisher.connect(port: port), try await TestPublisher.connect(port: port)]
            try await publishers[0].publish([("topic", "s"), ("id", "start")])
            let perPublisher = 300
            let joiners = try await withThrowingTaskGroup(of: [TestSubscriber].self) { group in
                for (index, publisher) in publishers.enumerated() {
                    group.addTask {
                        for n in 0..<perPublisher {
                            try await publisher.publish([("topic", "s"), ("id", "p\(index)-\(n)")])
                        }
                        return []
                    }
                }
                group.addTask {
                    var joiners: [TestSubscriber] = []
                    for _ in 0..<10 {
                        joiners.append(
                            try await TestSubscriber.open(
                                port: port, query: "topic=s", headers: ["Last-Event-ID: start"])
                        )
                    }
                    return joiners
                }
                var all: [TestSubscriber] = []
                for try await joiners in group { all += joiners }
                return all
            }
            try await publishers[0].publish([("topic", "s"), ("id", "end")])
            let total = 2 * perPublisher + 2
            try await reference.waitForEvents(total, timeout: .seconds(20))
            let order = try await reference.ids()
            #expect(order.count == total)
            #expect(Set(order).count == total)
            for joiner in joiners {
                try await joiner.waitForEvents(total - 1, timeout: .seconds(20))
                let ids = try await joiner.ids()
                #expect(ids == Array(order.dropFirst()), "a subscriber that joined mid-storm saw a gap or duplicate")
            }
        }
    }
}
