import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import SSEGateway

/// A store in front of a memory store that can hold a commit back, fail, and count the batches it was given.
final class InstrumentedStore: EventStore {
    private struct State {
        var batches: [[String]] = []
        var gate: CheckedContinuation<Void, Never>?
        var holdNext = false
        var failure: EventStoreError?
        var entered: [CheckedContinuation<Void, Never>] = []
    }

    let inner = MemoryEventStore(capacity: 100)
    private let state = NIOLockedValueBox(State())

    var batches: [[String]] { self.state.withLockedValue { $0.batches } }

    /// Makes the next append wait until ``release()``.
    func holdNextCommit() { self.state.withLockedValue { $0.holdNext = true } }

    func release() {
        let gate = self.state.withLockedValue { state in
            defer { state.gate = nil }
            return state.gate
        }
        gate?.resume()
    }

    /// Makes every append fail with `failure`, or succeed again with nil.
    func fail(with failure: EventStoreError?) { self.state.withLockedValue { $0.failure = failure } }

    /// Returns once an append is held at the gate.
    func waitUntilHeld() async {
        await withCheckedContinuation { continuation in
            let held = self.state.withLockedValue { state -> Bool in
                if state.gate != nil { return true }
                state.entered.append(continuation)
                return false
            }
            if held { continuation.resume() }
        }
    }

    func append(_ records: [EventRecord]) async throws -> [AppendOutcome] {
        let (hold, failure) = self.state.withLockedValue { state -> (Bool, EventStoreError?) in
            state.batches.append(records.map(\.id))
            defer { state.holdNext = false }
            return (state.holdNext, state.failure)
        }
        if hold {
            await withCheckedContinuation { continuation in
                let entered = self.state.withLockedValue { state in
                    state.gate = continuation
                    defer { state.entered = [] }
                    return state.entered
                }
                for waiter in entered { waiter.resume() }
            }
        }
        if let failure { throw failure }
        return try await self.inner.append(records)
    }

    func events(after position: UInt64, limit: Int) async throws -> [StoredEvent] {
        try await self.inner.events(after: position, limit: limit)
    }

    func event(withID id: String) async throws -> StoredEvent? { try await self.inner.event(withID: id) }

    func newest(limit: Int) async throws -> [StoredEvent] { try await self.inner.newest(limit: limit) }

    func close() async throws {}
}

@Suite("Event store: the memory kind and the committer")
struct EventStoreTests {
    static func record(_ id: String, data: String = "x", topics: [String] = ["t"]) -> EventRecord {
        EventRecord(id: id, topics: topics, data: data)
    }

    @Test func theMemoryStoreNumbersKeepsAndFindsEvents() async throws {
        let store = MemoryEventStore(capacity: 3)
        let outcomes = try await store.append((1...4).map { Self.record("e\($0)") })
        #expect(outcomes == (1...4).map { AppendOutcome.appended(position: UInt64($0)) })
        #expect(try await store.newest(limit: 10).map(\.record.id) == ["e2", "e3", "e4"], "the oldest is dropped")
        #expect(try await store.event(withID: "e1") == nil)
        #expect(try await store.event(withID: "e3")?.position == 3)
        #expect(try await store.events(after: 2, limit: 10).map(\.position) == [3, 4])
        #expect(try await store.events(after: 0, limit: 1).map(\.position) == [2])
        #expect(try await store.events(after: 4, limit: 10).isEmpty)
    }

    @Test func aRetainedIdIsNotAppendedAgainEvenWithinABatch() async throws {
        let store = MemoryEventStore(capacity: 10)
        _ = try await store.append([Self.record("a")])
        let outcomes = try await store.append([Self.record("a", data: "other"), Self.record("b"), Self.record("b")])
        let stored = StoredEvent(position: 1, record: Self.record("a"))
        #expect(
            outcomes == [
                .exists(stored), .appended(position: 2), .exists(StoredEvent(position: 2, record: Self.record("b"))),
            ])
        #expect(try await store.newest(limit: 10).count == 2)
    }

    @Test func idsCompareByteForByte() async throws {
        let store = MemoryEventStore(capacity: 10)
        _ = try await store.append([Self.record("caf\u{E9}")])
        #expect(try await store.append([Self.record("cafe\u{301}")]) == [.appended(position: 2)])
    }

    @Test func theByteBudgetDropsTheOldest() async throws {
        let store = MemoryEventStore(capacity: 100, maxBytes: 30)
        _ = try await store.append((1...5).map { Self.record("e\($0)", data: "0123456789") })
        #expect(try await store.newest(limit: 10).map(\.record.id) == ["e4", "e5"])
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
