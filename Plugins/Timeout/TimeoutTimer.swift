import NIOCore

/// The idle and lifetime clock of one stream, as a state machine over times the caller passes in.
///
/// One task is scheduled at a time, at the earlier of the two deadlines. Events are not observed one by one: the
/// task, when it fires, learns when the stream last wrote one, and re-arms for `lastEvent + idle` if that was later.
struct TimeoutTimer {
    enum Expiry: Equatable {
        case idle
        case maxLifetime
    }

    enum Action: Equatable {
        /// Nothing to schedule (no limit configured, or the timer has stopped).
        case none
        /// Schedule the task at this deadline.
        case schedule(NIODeadline)
        /// A limit was reached: close the session. The timer has stopped.
        case expire(Expiry)
    }

    /// Nil when there is no idle limit.
    let idle: TimeAmount?
    /// Nil when there is no lifetime limit.
    let lifetimeDeadline: NIODeadline?

    private(set) var lastEvent: NIODeadline
    private(set) var isRunning = false

    /// - Parameter lifetime: this stream's lifetime, already jittered (``jitteredLifetime(_:random:)``).
    init(idle: TimeAmount?, lifetime: TimeAmount?, now: NIODeadline) {
        self.idle = idle
        self.lifetimeDeadline = lifetime.map { now + $0 }
        self.lastEvent = now
    }

    /// The share of the maximum lifetime that jitter may take away.
    static let jitter = 0.2

    /// A lifetime spread over 80–100% of `maximum` as `random` goes over 0...1 (0 gives 80%, 1 the whole maximum;
    /// values outside are clamped), so that clients that connected together do not all reconnect together.
    static func jitteredLifetime(_ maximum: TimeAmount, random: Double) -> TimeAmount {
        let fraction = (1 - Self.jitter) + Self.jitter * min(max(random, 0), 1)
        return .nanoseconds(Int64((Double(maximum.nanoseconds) * fraction).rounded()))
    }

    mutating func start() -> Action {
        guard !self.isRunning, let next = self.nextDeadline else { return .none }
        self.isRunning = true
        return .schedule(next)
    }

    /// An event (not a comment) was written at `time` (an earlier time than one already known changes nothing).
    /// Deliberately reschedules nothing.
    mutating func eventWritten(at time: NIODeadline) {
        self.lastEvent = max(self.lastEvent, time)
    }

    /// The scheduled task ran at `now`.
    mutating func timerFired(now: NIODeadline) -> Action {
        guard self.isRunning else { return .none }
        if let lifetimeDeadline, now >= lifetimeDeadline {
            self.isRunning = false
            return .expire(.maxLifetime)
        }
        if let idle, now >= self.lastEvent + idle {
            self.isRunning = false
            return .expire(.idle)
        }
        // Only reachable with a deadline: the task was armed for one of them.
        return self.nextDeadline.map { .schedule($0) } ?? .none
    }

    /// Stops the clock; returns whether it was running, so that its owner releases it exactly once.
    mutating func stop() -> Bool {
        guard self.isRunning else { return false }
        self.isRunning = false
        return true
    }

    private var nextDeadline: NIODeadline? {
        let idleDeadline = self.idle.map { self.lastEvent + $0 }
        switch (idleDeadline, self.lifetimeDeadline) {
        case (let idle?, let lifetime?): return min(idle, lifetime)
        case (let idle?, nil): return idle
        case (nil, let lifetime?): return lifetime
        case (nil, nil): return nil
        }
    }
}
