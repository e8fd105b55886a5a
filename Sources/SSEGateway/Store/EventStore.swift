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

    /// Whether other gateways append to this store too. The hub then fans out what it reads from the store after
    /// its cursor (every gateway's events, in the store's one order) instead of its own commits.
    var isShared: Bool { get }

    /// How often the hub reads a shared store even without a hint from ``watchAppends(_:)``.
    var pollInterval: Duration { get }

    /// Calls `appended` whenever any gateway may have appended: a coalesced hint that makes delivery prompt; a
    /// missed one delays delivery until the hub's next poll, never loses an event. Returns or throws when the hint's
    /// channel ends; the hub calls it again after a pause.
    func watchAppends(_ appended: @escaping @Sendable () -> Void) async throws
}

extension EventStore {
    /// A store of one gateway: the hub fans out its own commits.
    public var isShared: Bool { false }

    /// 100 ms: what a lost hint may delay delivery by.
    public var pollInterval: Duration { .milliseconds(100) }

    /// A store of one gateway has nothing to watch: waits until cancelled.
    public func watchAppends(_ appended: @escaping @Sendable () -> Void) async throws {
        while true {
            try await Task.sleep(for: .seconds(3600))
        }
    }
}
