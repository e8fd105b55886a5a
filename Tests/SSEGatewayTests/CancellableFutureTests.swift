import NIOCore
import NIOPosix
import Testing

@testable import SSEGateway

@Suite("EventLoopFuture.valueUnlessCancelled")
struct CancellableFutureTests {
    @Test func returnsTheValue() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let promise = loop.makePromise(of: Int.self)
        promise.succeed(7)
        #expect(await promise.futureResult.valueUnlessCancelled() == 7)
    }

    @Test func failureIsNil() async throws {
        struct Failure: Error {}
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let promise = loop.makePromise(of: Int.self)
        promise.fail(Failure())
        #expect(await promise.futureResult.valueUnlessCancelled() == nil)
    }

    @Test func cancellationResumesAWaiterOnAFutureThatNeverCompletes() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let promise = loop.makePromise(of: Int.self)
        let waiting = loop.makePromise(of: Void.self)
        let waiter = Task {
            waiting.succeed()
            return await promise.futureResult.valueUnlessCancelled()
        }
        try await waiting.futureResult.get()
        waiter.cancel()
        #expect(await waiter.value == nil)
        promise.succeed(1)  // Completing later is harmless.
    }

    @Test func alreadyCancelledReturnsAtOnce() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let promise = loop.makePromise(of: Int.self)
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await promise.futureResult.valueUnlessCancelled()
        }
        #expect(await waiter.value == nil)
        promise.succeed(1)
    }

    @Test func succeedsWithinReportsWhetherTheFutureBeatTheBound() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        #expect(await loop.makeSucceededVoidFuture().succeeds(within: .seconds(60)))
        struct Failure: Error {}
        let failed: EventLoopFuture<Void> = loop.makeFailedFuture(Failure())
        #expect(!(await failed.succeeds(within: .seconds(60))))
        let never = loop.makePromise(of: Void.self)
        let started = ContinuousClock.now
        #expect(!(await never.futureResult.succeeds(within: .milliseconds(50))))
        #expect(ContinuousClock.now - started >= .milliseconds(50))
        never.succeed()
    }
}
