import Synchronization

/// Set once a filter has let go of its timer, so that the will-close listener, which runs off the event loop, can
/// skip the hop back to it.
final class ReleaseFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    var isReleased: Bool { self.flag.load(ordering: .acquiring) }

    func release() {
        self.flag.store(true, ordering: .releasing)
    }
}
