public import NIOCore
import Synchronization

/// A store in the process's memory: the newest events up to `hub.history.size` and `hub.history.maxBytes`, gone
/// with the process. For tests, benchmarks, and deployments that accept losing history on a restart.
public final class MemoryEventStore: EventStore {
    /// `{"type": "memory"}`: no settings; bounded by `hub.history`.
    public struct Plugin: EventStorePlugin {
        public static let type = "memory"

        private let history: GatewayConfiguration.Hub.History

        public init(settings: ConfigObject, context: EventStoreContext) {
            self.history = context.history
        }

        public func open(on eventLoopGroup: any EventLoopGroup) async throws -> any EventStore {
            MemoryEventStore(capacity: self.history.size, maxBytes: self.history.maxBytes)
        }
    }

    private struct State {
        var events = CircularBuffer<StoredEvent>()
        var positionByID: [UTF8Key: UInt64] = [:]
        var bytes = 0
        var lastPosition: UInt64 = 0
    }

    private let capacity: Int
    private let maxBytes: Int
    private let state = Mutex(State())

    /// - Parameters:
    ///   - capacity: events retained; 0 retains none (ids are then never found again).
    ///   - maxBytes: what the retained records may weigh; the oldest go first.
    public init(capacity: Int, maxBytes: Int = .max) {
        self.capacity = capacity
        self.maxBytes = maxBytes
    }

    public func append(_ records: [EventRecord], on eventLoop: any EventLoop) -> EventLoopFuture<[AppendOutcome]> {
        eventLoop.makeSucceededFuture(self.append(records))
    }

    /// Appends at once; the store never fails.
    func append(_ records: [EventRecord]) -> [AppendOutcome] {
        self.state.withLock { state in
            records.map { record in
                let key = UTF8Key(record.id)
                if let position = state.positionByID[key], let existing = Self.find(position, in: state.events) {
                    return .exists(existing)
                }
                state.lastPosition += 1
                let event = StoredEvent(position: state.lastPosition, record: record)
                self.retain(event, key: key, in: &state)
                return .appended(position: event.position)
            }
        }
    }

    public func events(
        after position: UInt64,
        limit: Int,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<[StoredEvent]> {
        eventLoop.makeSucceededFuture(
            self.state.withLock { state in
                let start = Self.firstIndex(after: position, in: state.events)
                return Array(state.events[start...].prefix(limit))
            })
    }

    public func event(withID id: String, on eventLoop: any EventLoop) -> EventLoopFuture<StoredEvent?> {
        eventLoop.makeSucceededFuture(
            self.state.withLock { state in
                state.positionByID[UTF8Key(id)].flatMap { Self.find($0, in: state.events) }
            })
    }

    public func newest(limit: Int, on eventLoop: any EventLoop) -> EventLoopFuture<[StoredEvent]> {
        eventLoop.makeSucceededFuture(self.state.withLock { state in Array(state.events.suffix(limit)) })
    }

    public func checkWritable(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        eventLoop.makeSucceededVoidFuture()
    }

    public func close() async throws {}

    private func retain(_ event: StoredEvent, key: UTF8Key, in state: inout State) {
        guard self.capacity > 0 else { return }
        state.events.append(event)
        state.positionByID[key] = event.position
        state.bytes += event.record.size
        while state.events.count > self.capacity || (state.bytes > self.maxBytes && !state.events.isEmpty) {
            let evicted = state.events.removeFirst()
            state.bytes -= evicted.record.size
            state.positionByID[UTF8Key(evicted.record.id)] = nil
        }
    }

    /// The index of the first event after `position` (binary search: positions increase, maybe with gaps).
    static func firstIndex(
        after position: UInt64,
        in events: CircularBuffer<StoredEvent>
    ) -> CircularBuffer<StoredEvent>.Index {
        var low = events.startIndex
        var high = events.endIndex
        while low < high {
            let middle = events.index(low, offsetBy: events.distance(from: low, to: high) / 2)
            if events[middle].position <= position {
                low = events.index(after: middle)
            } else {
                high = middle
            }
        }
        return low
    }

    private static func find(_ position: UInt64, in events: CircularBuffer<StoredEvent>) -> StoredEvent? {
        guard position > 0 else { return nil }
        let index = Self.firstIndex(after: position - 1, in: events)
        guard index < events.endIndex, events[index].position == position else { return nil }
        return events[index]
    }
}
