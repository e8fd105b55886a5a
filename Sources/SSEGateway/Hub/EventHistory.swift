import NIOCore

/// The hub's memory of the newest committed events: what most `Last-Event-ID` replays are served from, encoded and
/// ready to write, without asking the store.
///
/// Oldest events fall out first, when either the count or the byte budget is exceeded. ``floor`` says how far back
/// the window is complete: every committed event after it is here, so a cursor at or after it is served from memory
/// and an older one needs the store. Lookup by id is a dictionary hit on the id's UTF-8 bytes, as Mercure compares
/// ids, so a cursor only resumes from the byte-identical id.
///
/// A replay being read from the store pins the window: events after the pinned position stay, even beyond the
/// bounds, until the replay has taken them, so the store's part and the memory's part meet without a gap.
struct EventHistory {
    let capacity: Int
    let maxBytes: Int
    private var entries: CircularBuffer<HubEvent>
    private var sequenceByID: [UTF8Key: UInt64] = [:]
    private var pins: [UInt64: UInt64] = [:]
    private var nextPin: UInt64 = 0
    private(set) var bytes = 0
    /// Every committed event after this position is retained here; 0 when the window holds all there ever was
    /// (a window of no events never does).
    private(set) var floor: UInt64

    init(capacity: Int, maxBytes: Int = .max) {
        self.capacity = capacity
        self.maxBytes = maxBytes
        self.floor = capacity == 0 ? .max : 0
        self.entries = CircularBuffer(initialCapacity: min(max(capacity, 1), 1024))
    }

    var count: Int { self.entries.count }

    /// Whether every event the store retains is here too, so that `earliest` and unknown ids need no store read.
    var isComplete: Bool { self.floor == 0 }

    /// Starts from what the store kept: its newest events, and whether they are all it kept (`complete`).
    mutating func fill(_ events: [HubEvent], complete: Bool) {
        for event in events { self.append(event) }
        if !complete, let first = events.first {
            self.floor = max(self.floor, first.sequence - 1)
        }
    }

    mutating func append(_ event: HubEvent) {
        guard self.capacity > 0 || !self.pins.isEmpty else {
            self.floor = event.sequence
            return
        }
        self.entries.append(event)
        self.bytes += event.chunk.readableBytes
        let key = UTF8Key(event.id)
        if self.sequenceByID[key] == nil {
            self.sequenceByID[key] = event.sequence
        }
        self.trim()
    }

    private mutating func trim() {
        let pinned = self.pins.values.min() ?? .max
        while self.entries.count > self.capacity || (self.bytes > self.maxBytes && !self.entries.isEmpty),
            let first = self.entries.first, first.sequence <= pinned
        {
            let evicted = self.entries.removeFirst()
            self.floor = evicted.sequence
            self.bytes -= evicted.chunk.readableBytes
            let evictedKey = UTF8Key(evicted.id)
            if self.sequenceByID[evictedKey] == evicted.sequence {
                self.sequenceByID[evictedKey] = nil
            }
        }
    }

    /// Keeps every event after `position` until ``unpin(_:)``; returns the pin's handle.
    mutating func pin(after position: UInt64) -> UInt64 {
        self.nextPin += 1
        self.pins[self.nextPin] = position
        return self.nextPin
    }

    /// Releases a pin (again is harmless), trimming what it held beyond the bounds.
    mutating func unpin(_ handle: UInt64) {
        guard self.pins.removeValue(forKey: handle) != nil else { return }
        self.trim()
    }

    /// The position of the retained event with `id`, or nil.
    func position(of id: String) -> UInt64? {
        self.sequenceByID[UTF8Key(id)]
    }

    /// Events after the one with `id`, or `nil` when `id` is not retained.
    func events(after id: String) -> [HubEvent]? {
        guard let sequence = self.sequenceByID[UTF8Key(id)] else { return nil }
        return self.events(afterPosition: sequence)
    }

    /// Retained events after `position`, oldest first.
    func events(afterPosition position: UInt64) -> [HubEvent] {
        // Sequences increase but may skip numbers (a shared store's do): search rather than count.
        var low = self.entries.startIndex
        var high = self.entries.endIndex
        while low < high {
            let middle = self.entries.index(low, offsetBy: self.entries.distance(from: low, to: high) / 2)
            if self.entries[middle].sequence <= position {
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
