import NIOCore

/// The bounded window of recent events that `Last-Event-ID` replays from.
///
/// Oldest events fall out first, when either the count or the byte budget is exceeded. Lookup by id is a dictionary
/// hit on the id's UTF-8 bytes, as Mercure compares ids, so a cursor only resumes from the byte-identical id; when a
/// custom id repeats, the earliest retained occurrence is the one found (as Mercure 1.0 resolves duplicates).
struct EventHistory {
    let capacity: Int
    let maxBytes: Int
    private var entries: CircularBuffer<HubEvent>
    private var sequenceByID: [UTF8Key: UInt64] = [:]
    private(set) var bytes = 0

    init(capacity: Int, maxBytes: Int = .max) {
        self.capacity = capacity
        self.maxBytes = maxBytes
        self.entries = CircularBuffer(initialCapacity: min(max(capacity, 1), 1024))
    }

    var count: Int { self.entries.count }

    mutating func append(_ event: HubEvent) {
        guard self.capacity > 0 else { return }
        self.entries.append(event)
        self.bytes += event.chunk.readableBytes
        let key = UTF8Key(event.id)
        if self.sequenceByID[key] == nil {
            self.sequenceByID[key] = event.sequence
        }
        while self.entries.count > self.capacity || (self.bytes > self.maxBytes && !self.entries.isEmpty) {
            let evicted = self.entries.removeFirst()
            self.bytes -= evicted.chunk.readableBytes
            let evictedKey = UTF8Key(evicted.id)
            if self.sequenceByID[evictedKey] == evicted.sequence {
                self.sequenceByID[evictedKey] = nil
            }
        }
    }

    /// Events after the one with `id`, or `nil` when `id` is not retained.
    func events(after id: String) -> [HubEvent]? {
        guard let sequence = self.sequenceByID[UTF8Key(id)] else { return nil }
        // Sequences increase but may skip numbers (a shared store's do): search rather than count.
        var low = self.entries.startIndex
        var high = self.entries.endIndex
        while low < high {
            let middle = self.entries.index(low, offsetBy: self.entries.distance(from: low, to: high) / 2)
            if self.entries[middle].sequence <= sequence {
                low = self.entries.index(after: middle)
            } else {
                high = middle
            }
        }
        return Array(self.entries[low...])
    }

    /// Every retained event, oldest first.
    func all() -> [HubEvent] {
        Array(self.entries)
    }
}
