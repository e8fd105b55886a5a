import NIOCore
import NIOPosix
import Testing

@testable import SSEGateway

/// The race behind will-close listener and shutdown handler timeouts.
@Suite("ListenerRace")
struct ListenerRaceTests {
    @Test func cancellingTheWaiterResumesItAtOnceAndCancelsTheBody() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let started = loop.makePromise(of: Void.self)
        let bodySawCancellation = loop.makePromise(of: Bool.self)
        let waiter = Task {
            await ListenerRace.run(timeout: .hours(1), on: loop) {
                started.succeed()
                try? await Task.sleep(for: .seconds(3600))
                bodySawCancellation.succeed(Task.isCancelled)
            }
        }
        try await started.futureResult.get()
        waiter.cancel()
        guard case .cancelled = await waiter.value else {
            Issue.record("expected .cancelled")
            return
        }
        #expect(try await bodySawCancellation.futureResult.get())
    }

    @Test func aWaiterCancelledBeforeItStartsReturnsAtOnce() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await ListenerRace.run(timeout: .hours(1), on: loop) {
                try await Task.sleep(for: .seconds(3600))
            }
        }
        guard case .cancelled = await waiter.value else {
            Issue.record("expected .cancelled")
            return
        }
    }
}
