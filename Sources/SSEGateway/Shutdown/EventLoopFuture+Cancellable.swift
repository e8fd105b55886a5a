import NIOConcurrencyHelpers
import NIOCore

extension EventLoopFuture where Value: Sendable {
    /// The future's value, or nil when it fails or the waiting task is cancelled first; unlike `get()`, a
    /// cancelled waiter resumes at once, so a shutdown step cannot hang on a future that never completes.
    func valueUnlessCancelled() async -> Value? {
        let waiter = NIOLockedValueBox<(done: Bool, continuation: CheckedContinuation<Value?, Never>?)>((false, nil))
        let resume: @Sendable (Value?) -> Void = { value in
            let continuation: CheckedContinuation<Value?, Never>? = waiter.withLockedValue { state in
                defer { state = (true, nil) }
                return state.continuation
            }
            continuation?.resume(returning: value)
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
                let alreadyDone = waiter.withLockedValue { state -> Bool in
                    guard !state.done else { return true }
                    state.continuation = continuation
                    return false
                }
                if alreadyDone {
                    continuation.resume(returning: nil)
                    return
                }
                self.whenComplete { result in resume(try? result.get()) }
            }
        } onCancel: {
            resume(nil)
        }
    }

    /// Whether the future succeeds within `bound`; false when it fails, when the bound passes first, or when the
    /// waiting task is cancelled.
    func succeeds(within bound: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.valueUnlessCancelled() != nil }
            group.addTask {
                try? await Task.sleep(for: bound)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}
