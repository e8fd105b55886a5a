/// An event a store holds, with its place in the store's one order.
public struct StoredEvent: Sendable, Equatable {
    /// Increases with every commit; positions may skip numbers (a shared store's sequence does), never repeat.
    public var position: UInt64
    public var record: EventRecord

    public init(position: UInt64, record: EventRecord) {
        self.position = position
        self.record = record
    }
}
