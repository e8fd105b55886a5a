import NIOCore
import Synchronization

/// Commits published events to the store in batches: whatever arrives while a commit runs goes into the next one,
/// so a durable store costs one transaction (one sync to disk) per batch rather than per publish, and positions
/// follow the order in which publishes were accepted.
///
/// One batch commits at a time, so the store never sees overlapping appends, and `committed` (the hub's fan-out)
/// sees the events of each batch in position order before any publisher of the batch hears back.
final class EventCommitter: Sendable {
    private struct Pending: Sendable {
        let record: EventRecord
        let promise: EventLoopPromise<AppendOutcome>
    }

    private struct State {
        var deliver: (@Sendable ([StoredEvent]) -> Void)?
        var queue: [Pending] = []
        var committing = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let store: any EventStore
    private let state = Mutex(State())

    init(store: any EventStore) {
        self.store = store
    }

    /// Sets where each batch's newly committed events go, in position order: the hub's fan-out. Set once, before
    /// the first submit.
    func deliverCommits(to deliver: @escaping @Sendable ([StoredEvent]) -> Void) {
        self.state.withLock { $0.deliver = deliver }
    }

    /// Commits everything submitted, then closes the store: nothing accepted is lost when the gateway stops.
    func close() async throws {
        await self.waitUntilIdle()
        try await self.store.close()
    }

    /// Queues `record` for the next commit; the future completes on `eventLoop` once it is committed (or refused,
    /// or the store failed). A commit starts on the loop of the publish that finds the committer idle, so a store
    /// that answers at once commits, delivers and answers without leaving that loop.
    func submit(_ record: EventRecord, on eventLoop: any EventLoop) -> EventLoopFuture<AppendOutcome> {
        let promise = eventLoop.makePromise(of: AppendOutcome.self)
        let starts = self.state.withLock { state -> Bool in
            state.queue.append(Pending(record: record, promise: promise))
            guard !state.committing else { return false }
            state.committing = true
            return true
        }
        if starts {
            self.commitNextBatch(on: eventLoop)
        }
        return promise.futureResult
    }

    /// Returns once everything submitted so far has been committed or has failed: what shutdown waits for before
    /// it closes the store.
    func waitUntilIdle() async {
        await withCheckedContinuation { continuation in
            let idle = self.state.withLock { state -> Bool in
                guard state.committing else { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    private func commitNextBatch(on eventLoop: any EventLoop) {
        guard let batch = self.nextBatch() else { return }
        self.store.append(batch.map(\.record), on: eventLoop).whenComplete { result in
            switch result {
            case .success(let outcomes) where outcomes.count == batch.count:
                var appended: [StoredEvent] = []
                for (pending, outcome) in zip(batch, outcomes) {
                    if case .appended(let position) = outcome {
                        appended.append(StoredEvent(position: position, record: pending.record))
                    }
                }
                if !appended.isEmpty, let deliver = self.state.withLock({ $0.deliver }) { deliver(appended) }
                for (pending, outcome) in zip(batch, outcomes) { pending.promise.succeed(outcome) }
            case .success(let outcomes):
                let error = EventStoreError("the store answered \(outcomes.count) outcomes for \(batch.count) events")
                for pending in batch { pending.promise.fail(error) }
            case .failure(let error):
                for pending in batch { pending.promise.fail(error) }
            }
            // What arrived meanwhile waits for a turn of the loop rather than a recursive call: answers complete
            // synchronously and may submit again, deeper each time.
            if self.state.withLock({ !$0.queue.isEmpty }) {
                eventLoop.execute { self.commitNextBatch(on: eventLoop) }
            } else {
                self.commitNextBatch(on: eventLoop)
            }
        }
    }

    /// Takes everything queued, or marks the committer idle (waking its waiters) when nothing is.
    private func nextBatch() -> [Pending]? {
        let (batch, waiters) = self.state.withLock { state -> ([Pending], [CheckedContinuation<Void, Never>]) in
            let batch = state.queue
            state.queue = []
            guard batch.isEmpty else { return (batch, []) }
            state.committing = false
            let waiters = state.idleWaiters
            state.idleWaiters = []
            return (batch, waiters)
        }
        for waiter in waiters { waiter.resume() }
        return batch.isEmpty ? nil : batch
    }
}
