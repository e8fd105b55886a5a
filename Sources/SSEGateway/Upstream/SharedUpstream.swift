import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The shared requests of one `"share": true` upstream route: one per distinct upstream URL (with the forwarded
/// query), each feeding a hub of its own, so that its fan-out and its `Last-Event-ID` replay are the hub's.
///
/// A feed opens with its first client (whose connect phase makes the first request, so a backend that is down gets
/// it `502`), and closes `linger` after its last client has left. A backend's event arriving again after a
/// reconnect, under an id the ring holds, is not delivered twice (the store's id check).
final class SharedUpstream: Sendable {
    /// The topic every event of a feed is published under, and every client of it subscribes to.
    static let topic = "upstream"

    private final class Feed: Sendable {
        let hub: Hub
        let ready: Task<Void, any Error>
        let state = NIOLockedValueBox<(clients: Int, reader: Task<Void, Never>?, linger: Task<Void, Never>?)>(
            (0, nil, nil))

        init(hub: Hub, ready: Task<Void, any Error>) {
            self.hub = hub
            self.ready = ready
        }
    }

    /// The feeds' readers still running (a cancelled one until it returns), and whether the server has stopped
    /// them: a reader works on the server's event loops, so none may outlive ``stop()``.
    private struct Readers {
        var stopped = false
        var nextID = 0
        var running: [Int: Task<Void, Never>] = [:]
    }

    let handler: UpstreamStreamHandler
    private let feeds = NIOLockedValueBox<[String: Feed]>([:])
    private let readers = NIOLockedValueBox(Readers())
    private let logger: Logger

    init(handler: UpstreamStreamHandler, logger: Logger) {
        self.handler = handler
        self.logger = logger
    }

    /// Joins `session` to the feed of its upstream URL, opening it when it is the first; returns the feed's hub.
    /// The session leaves when it closes.
    func join(_ session: Session, loops: [any EventLoop]) async throws -> Hub {
        let target = self.handler.target(for: session)
        // The feeds' lock, then a feed's: joining and the linger's end never cross.
        let feed = self.feeds.withLockedValue { feeds -> Feed in
            let feed = feeds[target] ?? self.makeFeed(target: target, session: session, loops: loops)
            feeds[target] = feed
            feed.state.withLockedValue { state in
                state.clients += 1
                state.linger?.cancel()
                state.linger = nil
            }
            return feed
        }
        session.addWillCloseListener { _, _ in self.leave(feed, target: target) }
        do {
            try await feed.ready.value
        } catch {
            self.feeds.withLockedValue { feeds in
                if feeds[target] === feed { feeds[target] = nil }
            }
            throw error
        }
        return feed.hub
    }

    private func makeFeed(target: String, session: Session, loops: [any EventLoop]) -> Feed {
        var configuration = GatewayConfiguration.Hub()
        configuration.history.size = self.handler.settings.replaySize
        configuration.history.cacheSize = self.handler.settings.replaySize
        let hub = Hub(
            eventLoops: loops, configuration: configuration, metrics: GatewayMetrics(),
            committer: EventCommitter(store: MemoryEventStore(capacity: self.handler.settings.replaySize)),
            logger: self.logger)
        let handler = self.handler
        let box = NIOLockedValueBox<Feed?>(nil)
        let ready = Task {
            let first = try await handler.firstConnection(for: session, target: target)
            guard
                let reader = self.startReader({
                    await handler.feed(hub, from: first, target: target, on: session.eventLoop)
                })
            else {
                first.close()
                throw CancellationError()
            }
            box.withLockedValue { $0 }?.state.withLockedValue { $0.reader = reader }
        }
        let feed = Feed(hub: hub, ready: ready)
        box.withLockedValue { $0 = feed }
        return feed
    }

    /// Starts a feed's reader, unless the feeds have been stopped; the reader is tracked until it returns.
    private func startReader(_ body: @escaping @Sendable () async -> Void) -> Task<Void, Never>? {
        self.readers.withLockedValue { readers -> Task<Void, Never>? in
            guard !readers.stopped else { return nil }
            let id = readers.nextID
            readers.nextID += 1
            // Made under the lock, so the task's own removal (which takes it) always comes after its insertion.
            let task = Task {
                await body()
                self.readers.withLockedValue { _ = $0.running.removeValue(forKey: id) }
            }
            readers.running[id] = task
            return task
        }
    }

    /// Ends every feed and returns once none is still reading, committing, or connecting: called when the server
    /// stops, before its event loops do, since a feed's reader commits on them. Feeds opened afterwards fail.
    func stop() async {
        self.readers.withLockedValue { $0.stopped = true }
        let feeds = self.feeds.withLockedValue { feeds in
            defer { feeds = [:] }
            return Array(feeds.values)
        }
        for feed in feeds {
            feed.ready.cancel()
            feed.state.withLockedValue { $0.linger?.cancel() }
        }
        // A feed still connecting starts no reader once stopped; it closes its connection instead.
        for feed in feeds { _ = try? await feed.ready.value }
        let running = self.readers.withLockedValue { Array($0.running.values) }
        for reader in running { reader.cancel() }
        for reader in running { await reader.value }
    }

    private func leave(_ feed: Feed, target: String) {
        let linger = self.handler.settings.linger
        feed.state.withLockedValue { state in
            state.clients -= 1
            guard state.clients == 0 else { return }
            state.linger = Task {
                try? await Task.sleep(for: linger)
                guard !Task.isCancelled else { return }
                let reader = self.feeds.withLockedValue { feeds -> Task<Void, Never>? in
                    feed.state.withLockedValue { state -> Task<Void, Never>? in
                        guard state.clients == 0 else { return nil }
                        if feeds[target] === feed { feeds[target] = nil }
                        defer { state.reader = nil }
                        return state.reader
                    }
                }
                reader?.cancel()
            }
        }
    }
}
