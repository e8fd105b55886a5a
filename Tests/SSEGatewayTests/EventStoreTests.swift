import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import SSEGateway

/// A store in front of a memory store that can hold a commit back, fail, and count the batches it was given.
final class InstrumentedStore: EventStore {
    private struct State {
        var batches: [[String]] = []
        var held: (records: [EventRecord], promise: EventLoopPromise<[AppendOutcome]>)?
        var holdNext = false
        var failure: EventStoreError?
        var heldWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let inner: MemoryEventStore
    private let state = NIOLockedValueBox(State())

    init(capacity: Int = 100) {
        self.inner = MemoryEventStore(capacity: capacity)
    }

    var batches: [[String]] { self.state.withLockedValue { $0.batches } }

    /// Makes the next append wait until ``release()``.
    func holdNextCommit() { self.state.withLockedValue { $0.holdNext = true } }

    func release() {
        guard
            let held = self.state.withLockedValue({ state in
                defer { state.held = nil }
                return state.held
            })
        else {
            return
        }
        held.promise.succeed(self.inner.append(held.records))
    }

    /// Makes every append fail with `failure`, or succeed again with nil.
    func fail(with failure: EventStoreError?) { self.state.withLockedValue { $0.failure = failure } }

    /// Returns once an append is held.
    func waitUntilHeld() async {
        await withCheckedContinuation { continuation in
            let held = self.state.withLockedValue { state -> Bool in
                if state.held != nil { return true }
                state.heldWaiters.append(continuation)
                return false
            }
            if held { continuation.resume() }
        }
    }

    func append(_ records: [EventRecord], on eventLoop: any EventLoop) -> EventLoopFuture<[AppendOutcome]> {
        let promise = eventLoop.makePromise(of: [AppendOutcome].self)
        let (hold, failure, waiters) = self.state.withLockedValue {
            state -> (Bool, EventStoreError?, [CheckedContinuation<Void, Never>]) in
            state.batches.append(records.map(\.id))
            guard state.holdNext else { return (false, state.failure, []) }
            state.holdNext = false
            state.held = (records, promise)
            defer { state.heldWaiters = [] }
            return (true, nil, state.heldWaiters)
        }
        for waiter in waiters { waiter.resume() }
        if hold { return promise.futureResult }
        if let failure {
            promise.fail(failure)
        } else {
            promise.succeed(self.inner.append(records))
        }
        return promise.futureResult
    }

    func events(after position: UInt64, limit: Int, on eventLoop: any EventLoop) -> EventLoopFuture<[StoredEvent]> {
        self.inner.events(after: position, limit: limit, on: eventLoop)
    }

    func event(withID id: String, on eventLoop: any EventLoop) -> EventLoopFuture<StoredEvent?> {
        self.inner.event(withID: id, on: eventLoop)
    }

    func newest(limit: Int, on eventLoop: any EventLoop) -> EventLoopFuture<[StoredEvent]> {
        self.inner.newest(limit: limit, on: eventLoop)
    }

    /// Fails like an append while ``fail(with:)`` is in force.
    func checkWritable(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        if let failure = self.state.withLockedValue({ $0.failure }) {
            return eventLoop.makeFailedFuture(failure)
        }
        return eventLoop.makeSucceededVoidFuture()
    }

    func close() async throws {}
}

@Suite("Event store: the memory kind and the committer", .timeLimit(.minutes(1)))
struct EventStoreTests {
    static let loop = MultiThreadedEventLoopGroup.singleton.next()

    static func record(_ id: String, data: String = "x", topics: [String] = ["t"]) -> EventRecord {
        EventRecord(id: id, topics: topics, data: data)
    }

    @Test func theMemoryStoreNumbersKeepsAndFindsEvents() async throws {
        let store = MemoryEventStore(capacity: 3)
        let outcomes = store.append((1...4).map { Self.record("e\($0)") })
        #expect(outcomes == (1...4).map { AppendOutcome.appended(position: UInt64($0)) })
        #expect(
            try await store.newest(limit: 10, on: Self.loop).get().map(\.record.id) == ["e2", "e3", "e4"],
            "the oldest is dropped")
        #expect(try await store.event(withID: "e1", on: Self.loop).get() == nil)
        #expect(try await store.event(withID: "e3", on: Self.loop).get()?.position == 3)
        #expect(try await store.events(after: 2, limit: 10, on: Self.loop).get().map(\.position) == [3, 4])
        #expect(try await store.events(after: 0, limit: 1, on: Self.loop).get().map(\.position) == [2])
        #expect(try await store.events(after: 4, limit: 10, on: Self.loop).get().isEmpty)
    }

    @Test func aRetainedIdIsNotAppendedAgainEvenWithinABatch() async throws {
        let store = MemoryEventStore(capacity: 10)
        _ = store.append([Self.record("a")])
        let outcomes = store.append([Self.record("a", data: "other"), Self.record("b"), Self.record("b")])
        let stored = StoredEvent(position: 1, record: Self.record("a"))
        #expect(
            outcomes == [
                .exists(stored), .appended(position: 2), .exists(StoredEvent(position: 2, record: Self.record("b"))),
            ])
        #expect(try await store.newest(limit: 10, on: Self.loop).get().count == 2)
    }

    @Test func idsCompareByteForByte() async throws {
        let store = MemoryEventStore(capacity: 10)
        _ = store.append([Self.record("caf\u{E9}")])
        #expect(store.append([Self.record("cafe\u{301}")]) == [.appended(position: 2)])
    }

    @Test func theByteBudgetDropsTheOldest() async throws {
        let store = MemoryEventStore(capacity: 100, maxBytes: 30)
        _ = store.append((1...5).map { Self.record("e\($0)", data: "0123456789") })
        #expect(try await store.newest(limit: 10, on: Self.loop).get().map(\.record.id) == ["e4", "e5"])
    }

    @Test func publishesThatArriveDuringACommitAreCommittedTogetherInOrder() async throws {
        let store = InstrumentedStore()
        let committer = EventCommitter(store: store)
        let delivered = NIOLockedValueBox<[UInt64]>([])
        committer.deliverCommits { events in delivered.withLockedValue { $0 += events.map(\.position) } }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        store.holdNextCommit()
        let first = committer.submit(Self.record("p0"), on: loop)
        await store.waitUntilHeld()
        let rest = (1...10).map { committer.submit(Self.record("p\($0)"), on: loop) }
        store.release()
        #expect(try await first.get() == .appended(position: 1))
        for (index, future) in rest.enumerated() {
            #expect(try await future.get() == .appended(position: UInt64(index + 2)))
        }
        #expect(store.batches == [["p0"], (1...10).map { "p\($0)" }], "one transaction for what arrived meanwhile")
        #expect(delivered.withLockedValue { $0 } == Array(1...11), "delivered in position order")
    }

    @Test func aBacklogIsCommittedInBatchesOfAtMostMaxBatch() async throws {
        let store = InstrumentedStore(capacity: 1000)
        let committer = EventCommitter(store: store)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        store.holdNextCommit()
        let first = committer.submit(Self.record("q0"), on: loop)
        await store.waitUntilHeld()
        let rest = (1...600).map { committer.submit(Self.record("q\($0)"), on: loop) }
        store.release()
        _ = try await first.get()
        for future in rest { _ = try await future.get() }
        #expect(store.batches.map(\.count) == [1, 256, 256, 88])
        #expect(store.batches.joined().map { $0 } == (0...600).map { "q\($0)" })
    }

    @Test func aFailingStoreIsProbedUntilItCommitsAgain() async throws {
        let store = InstrumentedStore()
        let committer = EventCommitter(store: store, probeInterval: .milliseconds(20))
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        store.fail(with: EventStoreError("disk full"))
        await #expect(throws: EventStoreError.self) { try await committer.submit(Self.record("a"), on: loop).get() }
        #expect(committer.failure == "disk full")
        store.fail(with: nil)
        // Nobody publishes: the probe alone clears the failure.
        let deadline = ContinuousClock.now + .seconds(5)
        while committer.failure != nil {
            try #require(ContinuousClock.now < deadline, "the probe never cleared the failure")
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(store.batches == [["a"]], "the probe commits no event")
    }

    @Test func aFailedCommitFailsItsWholeBatchAndTheNextOneStillRuns() async throws {
        let store = InstrumentedStore()
        let committer = EventCommitter(store: store)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        store.fail(with: EventStoreError("disk full"))
        await #expect(throws: EventStoreError.self) { try await committer.submit(Self.record("a"), on: loop).get() }
        store.fail(with: nil)
        #expect(try await committer.submit(Self.record("b"), on: loop).get() == .appended(position: 1))
        await committer.waitUntilIdle()
    }
}
