/// Where the hub's events are ordered, kept, and read back for replay: in memory, in an embedded database, or in a
/// database several gateways share.
///
/// The hub answers a publish only once ``append(_:)`` has committed it, and fans events out in position order. The
/// contract is what a shared store needs too: one increasing sequence for every event, replay after a position,
/// lookup of an id, and retention that the store applies itself (to the bounds it was made with).
///
/// Calls never overlap for one store: the hub commits one batch at a time, so a batch is one transaction.
public protocol EventStore: Sendable {
    /// Commits `records` in order, as one transaction, and says what became of each. A record whose id is already
    /// retained (or appears earlier in the batch) is not committed again. Throws when nothing was committed.
    func append(_ records: [EventRecord]) async throws -> [AppendOutcome]

    /// Up to `limit` retained events after `position`, oldest first.
    func events(after position: UInt64, limit: Int) async throws -> [StoredEvent]

    /// The retained event with `id`, compared byte for byte.
    func event(withID id: String) async throws -> StoredEvent?

    /// The newest `limit` retained events, oldest first: what the hub's memory holds after a restart.
    func newest(limit: Int) async throws -> [StoredEvent]

    /// Commits nothing more and releases the store; called once, after the last append.
    func close() async throws
}
