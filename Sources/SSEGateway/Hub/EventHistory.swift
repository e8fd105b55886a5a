import NIOCore

/// The bounded window of recent events that `Last-Event-ID` replays from.
///
/// Oldest events fall out first. Lookup by id is a dictionary hit; when a custom id repeats, the earliest retained
/// occurrence is the one found (as Mercure 1.0 resolves duplicates).
struct EventHistory {
    let capacity: Int
    private var entries: CircularBuffer<HubEvent>
    private var sequenceByID: [String: UInt64] = [:]

    init(capacity: Int) {
        self.capacity = capacity
        self.entries = CircularBuffer(initialCapacity: min(max(capacity, 1), 1024))
    }

    var count: Int { self.entries.count }

    mutating func append(_ event: HubEvent) {
        guard self.capacity > 0 else { return }
        if self.entries.count == self.capacity {
            let evicted = self.entries.removeFirst()
            if self.sequenceByID[evicted.id] == evicted.sequence {
                self.sequenceByID[evicted.id] = nil
            }
        }
        self.entries.append(event)
        if self.sequenceByID[event.id] == nil {
            self.sequenceByID[event.id] = event.sequence
        }
    }

    /// Events after the one with `id`, or `nil` when `id` is not retained.
    func events(after id: String) -> [HubEvent]? {
        guard let sequence = self.sequenceByID[id], let first = self.entries.first else { return nil }
        let offset = Int(sequence - first.sequence) + 1
        guard offset <= self.entries.count else { return [] }
        let start = self.entries.index(self.entries.startIndex, offsetBy: offset)
        return Array(self.entries[start...])
    }

    /// Every retained event, oldest first.
    func all() -> [HubEvent] {
        Array(self.entries)
    }
}
