import Synchronization

/// A publish's place in the commit order, taken when its request has arrived (before its publish phase), so that
/// publishes whose phases finish in another order are still committed in the order they arrived.
///
/// Every ticket ends exactly once: used by the commit, or released when the request is refused or abandoned. One
/// that is dropped without either releases itself, so that a forgotten path cannot hold back later publishes.
final class PublishTicket: Sendable {
    let number: UInt64
    private let committer: EventCommitter
    private let ended = Atomic<Bool>(false)

    init(number: UInt64, committer: EventCommitter) {
        self.number = number
        self.committer = committer
    }

    /// Marks the ticket used; returns false when it had already ended.
    func use() -> Bool {
        !self.ended.exchange(true, ordering: .acquiringAndReleasing)
    }

    /// Gives the place up: the request will not be committed.
    func release() {
        if self.use() { self.committer.void(self.number) }
    }

    deinit {
        if !self.ended.load(ordering: .acquiring) { self.committer.void(self.number) }
    }
}
