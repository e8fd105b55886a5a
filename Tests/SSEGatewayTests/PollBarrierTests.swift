import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

@testable import SSEGateway

/// Work deferred to after the event loop's next poll, which is what keeps publishes in arrival order.
@Suite("poll barrier")
struct PollBarrierTests {
    /// A loop with an open barrier, and a log the loop appends to.
    static func withBarrier(_ body: (PollBarrier, any EventLoop) async throws -> Void) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let barrier = PollBarrier(eventLoop: loop)
        do {
            try await barrier.open().get()
            try await body(barrier, loop)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await loop.submit { barrier.close() }.get()
        try await group.shutdownGracefully()
    }

    /// The value of `future`, failing the test rather than waiting on when the barrier never runs the work.
    static func bounded<T: Sendable>(_ future: EventLoopFuture<T>) async throws -> T {
        try #require(await future.succeeds(within: .seconds(5)), "the deferred work did not run within 5 s")
        return try await future.get()
    }

    @Test func deferredWorkRunsAfterEverythingTheCurrentTurnQueuesInOrder() async throws {
        try await Self.withBarrier { barrier, loop in
            let log = NIOLockedValueBox<[String]>([])
            try await Self.bounded(
                loop.flatSubmit { () -> EventLoopFuture<Void> in
                    let promise = loop.makePromise(of: Void.self)
                    barrier.afterNextPoll { log.withLockedValue { $0.append("first") } }
                    barrier.afterNextPoll {
                        log.withLockedValue { $0.append("second") }
                        promise.succeed()
                    }
                    // A task queued now runs in this turn, before the loop polls again.
                    loop.execute { log.withLockedValue { $0.append("task") } }
                    log.withLockedValue { $0.append("caller") }
                    return promise.futureResult
                })
            #expect(log.withLockedValue { $0 } == ["caller", "task", "first", "second"])

            // The barrier arms again for the next turn that defers work.
            let again = try await Self.bounded(
                loop.flatSubmit { () -> EventLoopFuture<[String]> in
                    let promise = loop.makePromise(of: [String].self)
                    barrier.afterNextPoll { promise.succeed(log.withLockedValue { $0 }) }
                    log.withLockedValue { $0.append("third caller") }
                    return promise.futureResult
                })
            #expect(again.last == "third caller")
        }
    }

    @Test func anUnopenedOrClosedBarrierRunsWorkAtOnce() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let barrier = PollBarrier(eventLoop: loop)
        let ranAtOnce = try await loop.submit { () -> Bool in
            var ran = false
            barrier.afterNextPoll { ran = true }
            return ran
        }.get()
        #expect(ranAtOnce)

        try await barrier.open().get()
        // Closing runs what waits, and work after the close runs at once.
        let order = try await loop.submit { () -> [String] in
            var order: [String] = []
            barrier.afterNextPoll { order.append("pending") }
            order.append("close")
            barrier.close()
            barrier.afterNextPoll { order.append("after close") }
            return order
        }.get()
        #expect(order == ["close", "pending", "after close"])
        try await group.shutdownGracefully()
    }

    /// Work deferred in the turn that reads the pipe, before it is read, has not seen its poll yet: it waits for the
    /// next one rather than leaving with the work sealed in an earlier turn.
    @Test func workDeferredBeforeThePipeIsReadWaitsForTheNextPoll() {
        let loop = EmbeddedEventLoop()
        let barrier = PollBarrier(eventLoop: loop)
        var wakes = 0
        var ran: [String] = []
        barrier.start(reader: nil) {
            wakes += 1
            return true
        }
        barrier.afterNextPoll { ran.append("a") }
        barrier.afterNextPoll { ran.append("b") }
        #expect(ran == [] && wakes == 0, "sealed at the end of the turn, not at once")
        loop.run()
        #expect(ran == [] && wakes == 1, "one wake for the turn")

        // The next turn: work deferred before the pipe is read stays for the next poll.
        barrier.afterNextPoll { ran.append("c") }
        barrier.polled()
        #expect(ran == ["a", "b"])
        loop.run()
        #expect(wakes == 2)
        barrier.polled()
        #expect(ran == ["a", "b", "c"])

        // Nothing deferred: a turn writes nothing.
        loop.run()
        #expect(wakes == 2)
        try? loop.syncShutdownGracefully()
    }
}
