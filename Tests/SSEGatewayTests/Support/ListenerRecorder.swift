import NIOConcurrencyHelpers
import NIOCore

@testable import SSEGateway

struct ListenerFailure: Error {}

/// Registers a fixed set of will-close listeners on every session and records when and how they ran.
final class ListenerRecorder: Middleware, Sendable {
    struct Record: Equatable, Sendable {
        var session: String
        var listener: String
        var reason: CloseReason
    }

    private let state = NIOLockedValueBox<(records: [Record], ranAt: [String: ContinuousClock.Instant])>(([], [:]))
    private let opened = NIOLockedValueBox<(sessions: [Session], waiters: [EventLoopPromise<Session>])>(([], []))
    let slowListener: Bool

    init(slowListener: Bool = false) {
        self.slowListener = slowListener
    }

    func connect(_ session: Session) async throws {
        session.addWillCloseListener { session, reason in
            self.record(session, "first", reason)
        }
        session.addWillCloseListener { session, reason in
            self.record(session, "throws", reason)
            throw ListenerFailure()
        }
        let removed = session.addWillCloseListener { session, reason in
            self.record(session, "removed", reason)
        }
        session.removeWillCloseListener(removed)
        if self.slowListener {
            session.addWillCloseListener { session, reason in
                self.record(session, "slow", reason)
                // Hangs without honouring cancellation, like a listener stuck in a blocking call.
                await withCheckedContinuation { continuation in
                    RawClient.group.next().scheduleTask(in: .seconds(3)) { continuation.resume() }
                }
                self.record(session, "slow-finished", reason)
            }
        }
        session.addWillCloseListener { session, reason in
            self.record(session, "last", reason)
        }
        let waiter = self.opened.withLockedValue { opened -> EventLoopPromise<Session>? in
            if opened.waiters.isEmpty {
                opened.sessions.append(session)
                return nil
            }
            return opened.waiters.removeFirst()
        }
        waiter?.succeed(session)
    }

    private func record(_ session: Session, _ name: String, _ reason: CloseReason) {
        self.state.withLockedValue {
            $0.records.append(Record(session: session.id, listener: name, reason: reason))
            if $0.ranAt[session.id] == nil { $0.ranAt[session.id] = .now }
        }
    }

    /// The next session that passed the connect phase; fails after `timeout` rather than hang the suite.
    func nextSession(timeout: TimeAmount = .seconds(10)) async throws -> Session {
        let loop = RawClient.group.next()
        let promise = loop.makePromise(of: Session.self)
        let session = self.opened.withLockedValue { opened -> Session? in
            if opened.sessions.isEmpty {
                opened.waiters.append(promise)
                return nil
            }
            return opened.sessions.removeFirst()
        }
        if let session { promise.succeed(session) }
        let timer = loop.scheduleTask(in: timeout) {
            promise.fail(TestTimeout(what: "a session to pass the connect phase", received: ""))
        }
        defer { timer.cancel() }
        return try await promise.futureResult.get()
    }

    func records(for session: Session) -> [String] {
        self.state.withLockedValue { $0.records.filter { $0.session == session.id }.map(\.listener) }
    }

    func reasons(for session: Session) -> Set<CloseReason> {
        Set(self.state.withLockedValue { $0.records.filter { $0.session == session.id }.map(\.reason) })
    }

    func firstRun(for session: Session) -> ContinuousClock.Instant? {
        self.state.withLockedValue { $0.ranAt[session.id] }
    }
}
