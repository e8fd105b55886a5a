import Logging
import NIOCore
import Synchronization

/// Fans out what a shared store holds after the hub's cursor, so that every gateway on the store delivers every
/// gateway's events, in the store's one order, each once.
///
/// Reads are woken by the store's hint (``EventStore/watchAppends(_:)``), by this gateway's own commits, and by a
/// poll as the safety net: a lost hint delays delivery by at most one poll interval, never loses an event. One read
/// runs at a time, on one event loop, and pages until the store has nothing newer. A read that fails is retried at
/// the next wake or poll, from the same cursor, so the gateway catches up without a gap once the store is back.
final class StoreFollower: Sendable {
    private struct State {
        var cursor: UInt64
        var reading = false
        var wanted = false
        var stopped = false
        var failure: String?
        var poll: RepeatedTask?
        var watcher: Task<Void, Never>?
        /// The hub's fan-out; dropped at ``stop()``, which ends the hub's hold on itself through the follower.
        var deliver: (@Sendable ([StoredEvent]) -> Void)?
    }

    static let page = 1000

    private let store: any EventStore
    private let eventLoop: any EventLoop
    private let pollInterval: TimeAmount
    private let logger: Logger
    private let state: Mutex<State>

    /// - Parameters:
    ///   - cursor: the position of the last event the hub holds; reading starts after it.
    ///   - deliver: the hub's fan-out, called on `eventLoop` with each page in position order.
    init(
        store: any EventStore,
        cursor: UInt64,
        eventLoop: any EventLoop,
        pollInterval: TimeAmount = .milliseconds(100),
        logger: Logger,
        deliver: @escaping @Sendable ([StoredEvent]) -> Void
    ) {
        self.store = store
        self.eventLoop = eventLoop
        self.pollInterval = pollInterval
        self.logger = logger
        self.state = Mutex(State(cursor: cursor, deliver: deliver))
    }

    /// Why the last read failed, until one succeeds: `/readyz` answers 503 meanwhile.
    var failure: String? {
        self.state.withLock { $0.failure }
    }

    /// Starts the poll and the watch of the store's hint.
    func start() {
        let poll = self.eventLoop.scheduleRepeatedTask(initialDelay: self.pollInterval, delay: self.pollInterval) {
            _ in self.wake()
        }
        let watcher = Task { await self.watch() }
        self.state.withLock { state in
            state.poll = poll
            state.watcher = watcher
        }
        self.wake()
    }

    /// Stops reading; a read in flight completes without delivering.
    func stop() async {
        let (poll, watcher) = self.state.withLock { state in
            state.stopped = true
            state.deliver = nil
            defer {
                state.poll = nil
                state.watcher = nil
            }
            return (state.poll, state.watcher)
        }
        poll?.cancel()
        watcher?.cancel()
        await watcher?.value
    }

    /// Asks for a read: at once when none runs, else right after the one running.
    func wake() {
        let start = self.state.withLock { state -> Bool in
            guard !state.stopped else { return false }
            guard !state.reading else {
                state.wanted = true
                return false
            }
            state.reading = true
            state.wanted = false
            return true
        }
        if start {
            self.eventLoop.execute { self.read() }
        }
    }

    private func read() {
        let cursor = self.state.withLock { $0.cursor }
        self.store.events(after: cursor, limit: Self.page, on: self.eventLoop).whenComplete { result in
            switch result {
            case .success(let events):
                let (deliver, recovered) = self.state.withLock {
                    state -> ((@Sendable ([StoredEvent]) -> Void)?, Bool) in
                    guard !state.stopped else { return (nil, false) }
                    if let last = events.last { state.cursor = last.position }
                    defer { state.failure = nil }
                    return (state.deliver, state.failure != nil)
                }
                if recovered { self.logger.notice("event store readable again: delivery caught up from its cursor") }
                if let deliver, !events.isEmpty { deliver(events) }
                self.finishRead(more: events.count == Self.page)
            case .failure(let error):
                let first = self.state.withLock { state -> Bool in
                    defer { state.failure = "\(error)" }
                    return state.failure == nil
                }
                if first {
                    self.logger.error(
                        "cannot read the event store: delivery waits and resumes from its cursor",
                        metadata: ["error": "\(error)"])
                }
                self.finishRead(more: false)
            }
        }
    }

    private func finishRead(more: Bool) {
        let again = self.state.withLock { state -> Bool in
            guard !state.stopped, more || state.wanted else {
                state.reading = false
                return false
            }
            state.wanted = false
            return true
        }
        if again { self.eventLoop.execute { self.read() } }
    }

    /// Listens for the store's hint for as long as the follower runs, pausing (up to 5 s) after each failure.
    private func watch() async {
        var pause = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                try await self.store.watchAppends { self.wake() }
                pause = .milliseconds(100)
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                self.logger.warning(
                    "the event store's notifications stopped; polling until they are back",
                    metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(5))
            // Whatever was appended while nobody listened.
            self.wake()
        }
    }
}
