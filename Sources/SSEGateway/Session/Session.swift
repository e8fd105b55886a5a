import Logging
import NIOConcurrencyHelpers
public import NIOCore
public import NIOHTTP1

/// One open event stream: who asked for it, what it subscribes to, and how it ends.
///
/// A session is created when a subscribe request arrives, passes through the middleware connect phase, and lives
/// until ``close(reason:)`` is called, which happens exactly once whatever ends the stream: the client leaving,
/// a failed write, a slow consumer, a middleware decision or shutdown. Closing runs the will-close listeners in
/// registration order, each isolated from the others' failures, then resolves ``closeFuture``.
///
/// All members are safe to call from any thread; the stream's writes stay on ``eventLoop``.
public final class Session: Sendable {
    /// Unique id of this session (`urn:uuid:` UUIDv7), also used as the subscriber id in logs.
    public let id: String
    /// The facts of the request that opened the stream.
    public let request: RequestFacts
    /// The topic selectors the client subscribed to (`topic` query parameters), in order.
    public let topics: [TopicSelector]
    /// The cursor the client resumed from (`Last-Event-ID` header, else `lastEventID` query), if any.
    public let lastEventID: String?
    /// The event loop that owns the stream's channel; timers for this session belong here.
    public let eventLoop: any EventLoop
    /// Resolves with the close reason after every will-close listener has finished or timed out. Await it while the
    /// server runs: once the gateway has shut down its event loops, read ``closeReason`` instead.
    public var closeFuture: EventLoopFuture<CloseReason> { self.closePromise.futureResult }

    let environment: SessionEnvironment
    private let closePromise: EventLoopPromise<CloseReason>
    private let state: NIOLockedValueBox<State>

    private enum Phase {
        case open
        case closed(CloseReason)
    }

    private struct State {
        var phase: Phase = .open
        var listeners: [(handle: WillCloseListenerHandle, listener: WillCloseListener)] = []
        var nextListenerID = 0
        var claims: SubscriberClaims?
        var attributes: [ObjectIdentifier: any Sendable] = [:]
        var responseHeaders = HTTPHeaders()
        var teardown: Teardown?
    }

    /// Releases the transport (hub registration, channel) when the session closes.
    typealias Teardown = @Sendable (CloseReason) -> Void

    init(
        id: String,
        request: RequestFacts,
        topics: [TopicSelector],
        lastEventID: String?,
        eventLoop: any EventLoop,
        environment: SessionEnvironment,
        responseHeaders: HTTPHeaders = [:]
    ) {
        self.id = id
        self.request = request
        self.topics = topics
        self.lastEventID = lastEventID
        self.eventLoop = eventLoop
        self.environment = environment
        self.closePromise = eventLoop.makePromise(of: CloseReason.self)
        var state = State()
        state.responseHeaders = responseHeaders
        self.state = NIOLockedValueBox(state)
        environment.liveSessions.add(1, ordering: .relaxed)
    }

    deinit {
        self.environment.liveSessions.subtract(1, ordering: .relaxed)
    }

    /// Headers added to the stream's response head (or to its rejection), set during the connect phase. The head
    /// takes them when the stream opens, so an open stream does not keep them.
    public var responseHeaders: HTTPHeaders {
        get { self.state.withLockedValue { $0.responseHeaders } }
        set { self.state.withLockedValue { $0.responseHeaders = newValue } }
    }

    /// The response headers, handed to the stream's head and no longer held.
    func takeResponseHeaders() -> HTTPHeaders {
        self.state.withLockedValue { state in
            defer { state.responseHeaders = HTTPHeaders() }
            return state.responseHeaders
        }
    }

    /// The subscriber's authorisation, set by an auth middleware during the connect phase; `nil` is anonymous.
    public var claims: SubscriberClaims? {
        get { self.state.withLockedValue { $0.claims } }
        set { self.state.withLockedValue { $0.claims = newValue } }
    }

    /// Middleware state attached to this session; it is dropped with the session.
    public subscript<Key: SessionAttributeKey>(key: Key.Type) -> Key.Value? {
        get { self.state.withLockedValue { $0.attributes[ObjectIdentifier(key)] as? Key.Value } }
        set { self.state.withLockedValue { $0.attributes[ObjectIdentifier(key)] = newValue } }
    }

    /// Whether ``close(reason:)`` has been called.
    public var isClosed: Bool {
        self.state.withLockedValue {
            if case .open = $0.phase { return false }
            return true
        }
    }

    /// The reason the session closed with, once it has.
    public var closeReason: CloseReason? {
        self.state.withLockedValue {
            if case .closed(let reason) = $0.phase { return reason }
            return nil
        }
    }

    /// Registers a listener to run when the session ends.
    ///
    /// Listeners run in registration order, exactly once. If the session is already closed, the listener is not
    /// lost: it is started at once with the close reason (on its own, after the listeners registered earlier have
    /// been started), so cleanup registered late still happens.
    @discardableResult
    public func addWillCloseListener(_ listener: @escaping WillCloseListener) -> WillCloseListenerHandle {
        let result: (WillCloseListenerHandle, CloseReason?) = self.state.withLockedValue { state in
            let handle = WillCloseListenerHandle(value: state.nextListenerID)
            state.nextListenerID += 1
            switch state.phase {
            case .open:
                state.listeners.append((handle, listener))
                return (handle, nil)
            case .closed(let reason):
                return (handle, reason)
            }
        }
        if let reason = result.1 {
            let listeners = [(result.0, listener)]
            Task { await self.runListeners(listeners, reason: reason) }
        }
        return result.0
    }

    /// Removes a listener before the session closes. Returns `false` if it was not registered or already ran.
    @discardableResult
    public func removeWillCloseListener(_ handle: WillCloseListenerHandle) -> Bool {
        self.state.withLockedValue { state in
            guard let index = state.listeners.firstIndex(where: { $0.handle == handle }) else { return false }
            state.listeners.remove(at: index)
            return true
        }
    }

    /// Ends the session: the single way a stream closes. Later calls are ignored; the first reason wins.
    public func close(reason: CloseReason) {
        let taken: (listeners: [(WillCloseListenerHandle, WillCloseListener)], teardown: Teardown?)? =
            self.state.withLockedValue { state in
                guard case .open = state.phase else { return nil }
                state.phase = .closed(reason)
                let listeners = state.listeners.map { ($0.handle, $0.listener) }
                state.listeners = []
                let teardown = state.teardown
                state.teardown = nil
                return (listeners, teardown)
            }
        guard let taken else { return }
        self.environment.didClose(self, reason: reason)
        if let teardown = taken.teardown {
            if self.eventLoop.inEventLoop {
                teardown(reason)
            } else {
                self.eventLoop.execute { teardown(reason) }
            }
        }
        if taken.listeners.isEmpty {
            self.closePromise.succeed(reason)
        } else {
            Task {
                await self.runListeners(taken.listeners, reason: reason)
                self.closePromise.succeed(reason)
            }
        }
    }

    /// Installs what releases the transport when the session closes; runs at once if it already has.
    func setTeardown(_ teardown: @escaping Teardown) {
        let closedReason: CloseReason? = self.state.withLockedValue { state in
            switch state.phase {
            case .open:
                state.teardown = teardown
                return nil
            case .closed(let reason):
                return reason
            }
        }
        if let closedReason { teardown(closedReason) }
    }

    private func runListeners(_ listeners: [(WillCloseListenerHandle, WillCloseListener)], reason: CloseReason) async {
        for (handle, listener) in listeners {
            let outcome = await ListenerRace.run(
                timeout: self.environment.closeListenerTimeout,
                on: self.eventLoop
            ) {
                try await listener(self, reason)
            }
            switch outcome {
            case .finished:
                break
            case .threw(let error):
                self.environment.listenerFailed(self, handle: handle, problem: "threw: \(error)")
            case .timedOut, .cancelled:
                self.environment.listenerFailed(
                    self,
                    handle: handle,
                    problem: "did not finish within \(self.environment.closeListenerTimeout)"
                )
            }
        }
    }
}
