import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import SSEGateway

/// Publishes are committed in the order their requests arrived, whatever order their publish phases end in.
@Suite("publish order")
struct PublishOrderTests {
    /// A committer on an embedded loop, and the ids it has committed so far.
    struct Rig {
        let loop = EmbeddedEventLoop()
        let committer = EventCommitter(store: MemoryEventStore(capacity: 100), orderWait: .milliseconds(100))
        let committed = NIOLockedValueBox<[String]>([])

        init() {
            let committed = self.committed
            self.committer.deliverCommits { events in committed.withLockedValue { $0 += events.map(\.record.id) } }
        }

        func submit(_ id: String, _ ticket: PublishTicket?) {
            _ = self.committer.submit(EventStoreTests.record(id), on: self.loop, ticket: ticket)
            self.loop.run()
        }

        var ids: [String] { self.committed.withLockedValue { $0 } }
    }

    @Test func laterPublishesWaitForAnEarlierOneAndAllCommitInArrivalOrder() throws {
        let rig = Rig()
        let (first, second, third) = try (
            #require(rig.committer.reserve()), #require(rig.committer.reserve()), #require(rig.committer.reserve())
        )
        rig.submit("third", third)
        rig.submit("second", second)
        #expect(rig.ids == [], "both wait for the first")
        rig.submit("first", first)
        #expect(rig.ids == ["first", "second", "third"])
    }

    @Test func aReleasedOrDroppedTicketHoldsNothingBack() throws {
        let rig = Rig()
        let refused = try #require(rig.committer.reserve())
        let next = try #require(rig.committer.reserve())
        rig.submit("next", next)
        #expect(rig.ids == [])
        refused.release()
        rig.loop.run()
        #expect(rig.ids == ["next"])

        // A request that ends on a path that forgets its ticket: dropping it gives its place up.
        var forgotten = Optional(try #require(rig.committer.reserve()))
        let after = try #require(rig.committer.reserve())
        rig.submit("after", after)
        #expect(rig.ids == ["next"])
        forgotten = nil
        rig.loop.run()
        #expect(rig.ids == ["next", "after"])
        _ = forgotten
    }

    @Test func anEarlierPublishSlowerThanTheWaitIsCommittedWhenReadyAfterTheOthers() throws {
        let rig = Rig()
        let slow = try #require(rig.committer.reserve())
        let fast = try #require(rig.committer.reserve())
        rig.submit("fast", fast)
        rig.loop.advanceTime(by: .milliseconds(99))
        #expect(rig.ids == [])
        rig.loop.advanceTime(by: .milliseconds(1))
        #expect(rig.ids == ["fast"], "the wait is bounded")
        rig.submit("slow", slow)
        #expect(rig.ids == ["fast", "slow"])
        // The order goes on normally after a skip.
        let (a, b) = try (#require(rig.committer.reserve()), #require(rig.committer.reserve()))
        rig.submit("b", b)
        rig.submit("a", a)
        #expect(rig.ids == ["fast", "slow", "a", "b"])
    }

    @Test func aPublishWithoutATicketIsNotHeldBack() throws {
        let rig = Rig()
        let pending = try #require(rig.committer.reserve())
        rig.submit("untracked", nil)
        #expect(rig.ids == ["untracked"])
        pending.release()
    }

    @Test func noTicketsWhenOrderingIsOff() {
        #expect(EventCommitter(store: MemoryEventStore(capacity: 1), orderWait: nil).reserve() == nil)
    }

    /// Delays the publish phase of an update whose data is "slow", as a token check that must fetch a key would.
    final class SlowFirst: Middleware, Sendable {
        let started = EventCounter()

        func publish(_ publish: PublishContext) async throws {
            self.started.increment()
            if publish.update.data == "slow" { try await Task.sleep(for: .milliseconds(60)) }
        }
    }

    /// Over the wire: a publish whose phase is slow, then one whose phase is fast, on two connections. Both are
    /// delivered in the order they arrived; with `publishOrderWait` 0, the fast one overtakes.
    @Test(arguments: [true, false])
    func publishesAreDeliveredInTheOrderTheyArrived(ordered: Bool) async throws {
        let slow = SlowFirst()
        let configuration = GatewayConfiguration.testing {
            $0.hub.publishOrderWait = ordered ? .milliseconds(500) : .zero
        }
        try await TestGateway.run(middleware: [slow], configuration: configuration) { _, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=order")
            let first = try await TestPublisher.connect(port: port)
            let second = try await TestPublisher.connect(port: port)
            async let slowAnswer = first.publish([("topic", "order"), ("id", "slow"), ("data", "slow")])
            try await slow.started.wait(for: 1, "the slow publish's phase to start")
            #expect(try await second.publish([("topic", "order"), ("id", "fast"), ("data", "fast")]).status == 200)
            #expect(try await slowAnswer.status == 200)
            try await subscriber.waitForEvents(2)
            let ids = try await subscriber.ids()
            #expect(ids == (ordered ? ["slow", "fast"] : ["fast", "slow"]))
        }
    }

    /// Over the wire, as a load generator publishes: numbered publishes over 16 keep-alive connections, several in
    /// flight at once and each sent the moment an answer frees a connection, on one event loop, with and without
    /// `auth`. The subscriber gets them in the order they were sent: a client's next publish cannot overtake
    /// publishes that reached other connections first (answers leave after the loop's next poll), and a token
    /// check that ends early cannot reorder them either.
    @Test(arguments: [false, true])
    func burstsOverManyConnectionsAreDeliveredInSendOrder(withAuth: Bool) async throws {
        var configuration = withAuth ? AuthFixture.configuration(["anonymous": .bool(true)]) : .testing()
        configuration.server.threads = 1
        let headers = withAuth ? ["Authorization: Bearer \(try await AuthFixture.publisherToken())"] : []
        let count = 600
        try await TestGateway.run(configuration: configuration) { _, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=burst")
            let publisher = BurstPublisher(port: port, connections: 16, headers: headers)
            try await Task.detached { try publisher.publish(count: count, topic: "burst", prefix: "p") }.value
            try await subscriber.waitForEvents(count, timeout: .seconds(20))
            let ids = try await subscriber.ids()
            #expect(ids.count == count)
            let outOfOrder = zip(ids, ids.dropFirst()).filter { pair in
                Int(pair.0.dropFirst())! > Int(pair.1.dropFirst())!
            }
            #expect(outOfOrder.isEmpty, "delivered out of send order: \(outOfOrder.prefix(5))")
        }
    }
}
