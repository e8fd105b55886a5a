public import NIOCore

/// Where the hub's events are ordered, kept, and read back for replay: in memory, in an embedded database, or in a
/// database several gateways share.
///
/// The hub answers a publish only once ``append(_:on:)`` has committed it, and fans events out in position order.
/// The contract is what a shared store needs too: one increasing sequence for every event, replay after a position,
/// lookup of an id, and retention that the store applies itself (to the bounds it was made with).
///
/// Calls return futures on the given loop rather than being `async`: the hub commits on the loop that received
/// the publish, so a store that can answer at once (memory) costs no thread hop per publish. A store whose work is
/// `async` wraps it with `eventLoop.makeFutureWithTask`. Appends never overlap: the hub commits one batch at a time,
/// so a batch is one transaction.
public protocol EventStore: Sendable {
    /// Commits `records` in order, as one transaction, and says what became of each. A record whose id is already
    /// retained (or appears earlier in the batch) is not committed again. Fails when nothing was committed.
    func append(_ records: [EventRecord], on eventLoop: any EventLoop) -> EventLoopFuture<[AppendOutcome]>

    /// Up to `limit` retained events after `position`, oldest first.
    func events(after position: UInt64, limit: Int, on eventLoop: any EventLoop) -> EventLoopFuture<[StoredEvent]>

    /// The retained event with `id`, compared byte for byte.
    func event(withID id: String, on eventLoop: any EventLoop) -> EventLoopFuture<StoredEvent?>

    /// The newest `limit` retained events, oldest first: what the hub's memory holds after a restart.
    func newest(limit: Int, on eventLoop: any EventLoop) -> EventLoopFuture<[StoredEvent]>

    /// Succeeds once the store can commit again, after an append failed: the hub probes with it on a timer, so that
    /// `/readyz` turns ready again even when nobody publishes. A real write, since a store can often read but not
    /// write (a full disk).
    func checkWritable(on eventLoop: any EventLoop) -> EventLoopFuture<Void>

    /// Commits nothing more and releases the store; called once, after the last append.
    func close() async throws
}
