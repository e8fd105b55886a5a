import NIOConcurrencyHelpers
import NIOCore

/// Counts events reported from any thread and lets a test await a count, with a deadline, instead of polling.
final class EventCounter: Sendable {
    private let loop = RawClient.group.next()
    private let state = NIOLockedValueBox<(count: Int, waiters: [(count: Int, promise: EventLoopPromise<Void>)])>(
        (0, []))

    var count: Int { self.state.withLockedValue { $0.count } }

    func increment() {
        let ready = self.state.withLockedValue { state -> [EventLoopPromise<Void>] in
            state.count += 1
            let count = state.count
            let ready = state.waiters.filter { $0.count <= count }.map(\.promise)
            state.waiters.removeAll { $0.count <= count }
            return ready
        }
        for promise in ready { promise.succeed() }
    }

    /// Returns once `count` events have been reported; fails after `timeout`, naming `what`.
    func wait(for count: Int, _ what: String, timeout: TimeAmount = .seconds(10)) async throws {
        let promise = self.loop.makePromise(of: Void.self)
        let reached = self.state.withLockedValue { state -> Bool in
            if state.count >= count { return true }
            state.waiters.append((count, promise))
            return false
        }
        if reached { promise.succeed() }
        let timer = self.loop.scheduleTask(in: timeout) {
            promise.fail(TestTimeout(what: what, received: "\(self.count) of \(count)"))
        }
        defer { timer.cancel() }
        try await promise.futureResult.get()
    }
}
