import Logging
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
        let eventLoop: any EventLoop
        let completion: Completion

        /// Completes on the publish's loop: at once when the commit ran there, as it does for a store that answers
        /// at once.
        func complete(_ result: Result<AppendOutcome, any Error>) {
            if self.eventLoop.inEventLoop {
                self.completion(result)
            } else {
                let completion = self.completion
                self.eventLoop.execute { completion(result) }
            }
        }
    }

    /// What a publish hears of its commit, on its event loop. A closure rather than a promise: the publish path
    /// then allocates no future per step.
    typealias Completion = @Sendable (Result<AppendOutcome, any Error>) -> Void

    private struct State {
        var store: (any EventStore)?
        var deliver: (@Sendable ([StoredEvent]) -> Void)?
        var queue: [Pending] = []
        var committing = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        /// Why the store last failed, while it has not committed since; nil when it is healthy.
        var failure: String?
        var probing = false
        var order = Order()
    }

    /// Tickets in arrival order: each resolved one waits in `waiting` until every earlier one is resolved.
    private struct Order {
        /// The next ticket to issue.
        var issued: UInt64 = 0
        /// The oldest ticket not yet resolved or skipped.
        var head: UInt64 = 0
        /// Resolved tickets after the head: a publish to queue, or nil for one given up.
        var waiting: [UInt64: Pending?] = [:]
        /// Tickets the head waited for longer than `maxWait`: they are queued whenever they come, out of order.
        var skipped: Set<UInt64> = []
        /// The head a timer is armed for, and a loop to arm the next one on.
        var timerFor: UInt64?
        var loop: (any EventLoop)?
    }

    /// Events one commit takes at most: a batch stays one short statement for a database, and what arrives beyond
    /// it waits for the next commit, which starts at once.
    static let maxBatch = 256

    private let state = Mutex(State())
    private let logger: Logger
    private let probeInterval: TimeAmount
    /// How long a publish waits for an earlier ticket still in its publish phase; nil: no tickets, arrival order is
    /// not kept beyond the submit order.
    private let maxWait: TimeAmount?

    /// - Parameters:
    ///   - store: the store to commit to, or nil until ``open(_:)`` (a store opened when the gateway starts).
    ///   - probeInterval: how often a failed store is checked until it can commit again.
    ///   - orderWait: how long a publish that arrived later waits for an earlier one still in its publish phase
    ///     (``reserve()``); nil turns tickets off.
    init(
        store: (any EventStore)? = nil,
        logger: Logger = Logger(label: "sse-gateway"),
        probeInterval: TimeAmount = .seconds(1),
        orderWait: TimeAmount? = .milliseconds(100)
    ) {
        self.state.withLock { $0.store = store }
        self.logger = logger
        self.probeInterval = probeInterval
        self.maxWait = orderWait
    }

    /// A place in the commit order for a publish whose request has just arrived, or nil when ordering is off.
    func reserve() -> PublishTicket? {
        guard self.maxWait != nil else { return nil }
        let number = self.state.withLock { state -> UInt64 in
            defer { state.order.issued += 1 }
            return state.order.issued
        }
        return PublishTicket(number: number, committer: self)
    }

    /// Gives up a ticket's place (its request was refused or abandoned).
    func void(_ number: UInt64) {
        let (starts, arm, loop) = self.state.withLock { state -> (Bool, UInt64?, (any EventLoop)?) in
            if state.order.skipped.remove(number) == nil {
                state.order.waiting[number] = .some(nil)
                self.advance(&state)
            }
            let loop = state.order.loop
            return (self.claimCommit(&state), loop == nil ? nil : self.timerToArm(&state), loop)
        }
        guard let loop else { return }
        if let arm { self.armTimer(for: arm, on: loop) }
        // Called from wherever the request ended (a dropped ticket's deinit included): commit on a loop.
        if starts { loop.execute { self.commitNextBatch(on: loop) } }
    }

    /// The store committed to, once open.
    var store: (any EventStore)? {
        self.state.withLock { $0.store }
    }

    /// Commits to `store` from now on.
    func open(_ store: any EventStore) {
        self.state.withLock { $0.store = store }
    }

    /// Why the store cannot commit, while it cannot: `/readyz` answers 503 with it until the store recovers.
    var failure: String? {
        self.state.withLock { $0.failure }
    }

    /// Sets where each batch's newly committed events go, in position order: the hub's fan-out. Set once, before
    /// the first submit.
    func deliverCommits(to deliver: @escaping @Sendable ([StoredEvent]) -> Void) {
        self.state.withLock { $0.deliver = deliver }
    }

    /// Commits everything submitted, then closes the store: nothing accepted is lost when the gateway stops.
    func close() async throws {
        await self.waitUntilIdle()
        let store = self.state.withLock { state -> (any EventStore)? in
            defer { state.store = nil }
            return state.store
        }
        try await store?.close()
    }

    /// Queues `record` for the next commit; the future completes on `eventLoop` once it is committed (or refused,
    /// or the store failed). A commit starts on the loop of the publish that finds the committer idle, so a store
    /// that answers at once commits, delivers and answers without leaving that loop.
    ///
    /// With a `ticket`, the record waits for every earlier ticket to be committed or released, at most `orderWait`
    /// for each.
    func submit(
        _ record: EventRecord,
        on eventLoop: any EventLoop,
        ticket: PublishTicket? = nil
    ) -> EventLoopFuture<AppendOutcome> {
        let promise = eventLoop.makePromise(of: AppendOutcome.self)
        self.submit(record, on: eventLoop, ticket: ticket, completion: promise.completeWith)
        return promise.futureResult
    }

    /// ``submit(_:on:ticket:)`` for the publish path: `completion` is called once, on `eventLoop`.
    func submit(
        _ record: EventRecord,
        on eventLoop: any EventLoop,
        ticket: PublishTicket?,
        completion: @escaping Completion
    ) {
        let pending = Pending(record: record, eventLoop: eventLoop, completion: completion)
        let number = ticket.flatMap { $0.use() ? $0.number : nil }
        let (starts, arm) = self.state.withLock { state -> (Bool, UInt64?) in
            state.order.loop = eventLoop
            if let number, state.order.skipped.remove(number) == nil {
                state.order.waiting[number] = pending
                self.advance(&state)
            } else {
                state.queue.append(pending)
            }
            return (self.claimCommit(&state), self.timerToArm(&state))
        }
        if let arm { self.armTimer(for: arm, on: eventLoop) }
        if starts {
            self.commitNextBatch(on: eventLoop)
        }
    }

    /// Moves the resolved tickets at the head of the order into the queue.
    private func advance(_ state: inout State) {
        while let entry = state.order.waiting.removeValue(forKey: state.order.head) {
            if let pending = entry { state.queue.append(pending) }
            state.order.head += 1
        }
    }

    /// Marks a commit as started when there is something to commit and none runs; returns whether to start one.
    private func claimCommit(_ state: inout State) -> Bool {
        guard !state.committing, !state.queue.isEmpty else { return false }
        state.committing = true
        return true
    }

    /// The head to arm a timer for: later publishes wait on it and no timer is armed for it yet.
    private func timerToArm(_ state: inout State) -> UInt64? {
        guard !state.order.waiting.isEmpty, state.order.timerFor != state.order.head else { return nil }
        state.order.timerFor = state.order.head
        return state.order.head
    }

    /// After `maxWait`, a head still unresolved is skipped: the publishes behind it go on, and it is committed
    /// whenever its publish phase ends.
    private func armTimer(for head: UInt64, on eventLoop: any EventLoop) {
        guard let maxWait = self.maxWait else { return }
        eventLoop.scheduleTask(in: maxWait) {
            let (starts, arm) = self.state.withLock { state -> (Bool, UInt64?) in
                if state.order.timerFor == head { state.order.timerFor = nil }
                if state.order.head == head, !state.order.waiting.isEmpty {
                    self.logger.debug(
                        "publish order: a later publish stops waiting for an earlier one",
                        metadata: ["ticket": "\(head)", "waiting": "\(state.order.waiting.count)"])
                    state.order.skipped.insert(head)
                    state.order.head += 1
                    self.advance(&state)
                }
                return (self.claimCommit(&state), self.timerToArm(&state))
            }
            if let arm { self.armTimer(for: arm, on: eventLoop) }
            if starts { self.commitNextBatch(on: eventLoop) }
        }
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
        guard let (batch, store) = self.nextBatch() else { return }
        guard let store else {
            let error = EventStoreError("the event store is not open")
            for pending in batch { pending.complete(.failure(error)) }
            self.commitNextBatch(on: eventLoop)
            return
        }
        store.append(batch.map(\.record), on: eventLoop).whenComplete { result in
            self.record(result.map { _ in () }, store: store, on: eventLoop)
            switch result {
            case .success(let outcomes) where outcomes.count == batch.count:
                var appended: [StoredEvent] = []
                for (pending, outcome) in zip(batch, outcomes) {
                    if case .appended(let position) = outcome {
                        appended.append(StoredEvent(position: position, record: pending.record))
                    }
                }
                if !appended.isEmpty, let deliver = self.state.withLock({ $0.deliver }) { deliver(appended) }
                for (pending, outcome) in zip(batch, outcomes) { pending.complete(.success(outcome)) }
            case .success(let outcomes):
                let error = EventStoreError("the store answered \(outcomes.count) outcomes for \(batch.count) events")
                for pending in batch { pending.complete(.failure(error)) }
            case .failure(let error):
                for pending in batch { pending.complete(.failure(error)) }
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
    private func nextBatch() -> ([Pending], (any EventStore)?)? {
        let (batch, store, waiters) = self.state.withLock {
            state -> ([Pending], (any EventStore)?, [CheckedContinuation<Void, Never>]) in
            let batch = Array(state.queue.prefix(Self.maxBatch))
            state.queue.removeFirst(batch.count)
            guard batch.isEmpty else { return (batch, state.store, []) }
            state.committing = false
            let waiters = state.idleWaiters
            state.idleWaiters = []
            return (batch, state.store, waiters)
        }
        for waiter in waiters { waiter.resume() }
        return batch.isEmpty ? nil : (batch, store)
    }

    /// Tracks the store's health from a commit or a probe: one log line when it starts failing, one when it
    /// recovers, and a probe on a timer meanwhile, so that `/readyz` recovers even when nobody publishes.
    private func record(_ result: Result<Void, any Error>, store: any EventStore, on eventLoop: any EventLoop) {
        switch result {
        case .success:
            let recovered = self.state.withLock { state -> Bool in
                defer { state.failure = nil }
                return state.failure != nil
            }
            if recovered { self.logger.notice("event store recovered: commits succeed again") }
        case .failure(let error):
            let reason = "\(error)"
            let (firstFailure, startProbe) = self.state.withLock { state -> (Bool, Bool) in
                let first = state.failure == nil
                state.failure = reason
                let start = !state.probing
                state.probing = true
                return (first, start)
            }
            if firstFailure {
                self.logger.error(
                    "event store failing: publishes are answered 503 until it recovers",
                    metadata: ["error": "\(reason)"])
            }
            if startProbe { self.scheduleProbe(of: store, on: eventLoop) }
        }
    }

    private func scheduleProbe(of store: any EventStore, on eventLoop: any EventLoop) {
        eventLoop.scheduleTask(in: self.probeInterval) {
            let failing = self.state.withLock { state -> Bool in
                // A commit may have succeeded meanwhile, and the store may have been closed.
                if state.failure == nil || state.store == nil { state.probing = false }
                return state.probing
            }
            guard failing else { return }
            store.checkWritable(on: eventLoop).whenComplete { result in
                if case .success = result {
                    self.state.withLock { $0.probing = false }
                    self.record(result, store: store, on: eventLoop)
                } else {
                    self.scheduleProbe(of: store, on: eventLoop)
                }
            }
        }
    }
}
