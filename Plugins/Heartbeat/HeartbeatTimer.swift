import NIOCore

/// The heartbeat and dead-peer clock of one stream, as a state machine over times the caller passes in.
///
/// One task is scheduled at a time. Writes are not observed one by one, so a busy stream costs nothing per message:
/// when the task fires it learns when the stream last wrote, then either sends the heartbeat that is due or re-arms
/// for the moment one would be (`lastWrite + interval`). Losing writability may pull the task earlier, to the dead-peer deadline.
struct HeartbeatTimer {
    enum Action: Equatable {
        /// Nothing to do now.
        case none
        /// Cancel the scheduled task, if any, and schedule one at this deadline.
        case schedule(NIODeadline)
        /// Send a heartbeat comment now, then schedule the task at this deadline.
        case sendHeartbeat(thenScheduleAt: NIODeadline)
        /// The socket stayed unwritable for the dead-peer bound: close the session. The timer has stopped.
        case closeDeadPeer
    }

    let interval: TimeAmount
    /// Nil when dead-peer detection is off.
    let deadPeerTimeout: TimeAmount?

    private(set) var lastWrite: NIODeadline
    /// When the socket stopped taking bytes; nil while it is writable.
    private(set) var unwritableSince: NIODeadline?
    /// The deadline of the scheduled task, nil when none is scheduled.
    private(set) var armedAt: NIODeadline?
    private(set) var isRunning = false

    init(interval: TimeAmount, deadPeerTimeout: TimeAmount?, now: NIODeadline) {
        self.interval = interval
        self.deadPeerTimeout = deadPeerTimeout
        self.lastWrite = now
    }

    /// Starts the clock; the stream was just opened at `now`. Returns the first task to schedule.
    mutating func start(now: NIODeadline) -> Action {
        guard !self.isRunning else { return .none }
        self.isRunning = true
        self.lastWrite = now
        return self.arm(now + self.interval)
    }

    /// A message (event or comment) was written at `time`: it counts as traffic, so no heartbeat is due before
    /// `time + interval` (an earlier time than one already known changes nothing). Deliberately reschedules nothing.
    mutating func didWrite(at time: NIODeadline) {
        self.lastWrite = max(self.lastWrite, time)
    }

    mutating func writabilityChanged(isWritable: Bool, now: NIODeadline) -> Action {
        guard self.isRunning else { return .none }
        if isWritable {
            // The task fires at its time anyway and re-arms for the next heartbeat.
            self.unwritableSince = nil
            return .none
        }
        guard self.unwritableSince == nil else { return .none }
        self.unwritableSince = now
        guard let deadPeerTimeout = self.deadPeerTimeout else { return .none }
        let deadline = now + deadPeerTimeout
        if let armedAt = self.armedAt, armedAt <= deadline { return .none }
        return self.arm(deadline)
    }

    /// The scheduled task ran at `now`.
    mutating func timerFired(now: NIODeadline) -> Action {
        guard self.isRunning else { return .none }
        self.armedAt = nil
        var deadPeerDeadline: NIODeadline?
        if let since = self.unwritableSince, let deadPeerTimeout = self.deadPeerTimeout {
            deadPeerDeadline = since + deadPeerTimeout
            if now >= since + deadPeerTimeout {
                self.isRunning = false
                return .closeDeadPeer
            }
        }
        var heartbeatDue = self.lastWrite + self.interval
        var send = false
        if now >= heartbeatDue {
            if self.unwritableSince == nil {
                send = true
                self.lastWrite = now
            }
            // An unwritable socket takes no heartbeat: it could not leave, and would only grow the backlog.
            heartbeatDue = now + self.interval
        }
        let next = min(heartbeatDue, deadPeerDeadline ?? heartbeatDue)
        self.armedAt = next
        return send ? .sendHeartbeat(thenScheduleAt: next) : .schedule(next)
    }

    /// Stops the clock; returns whether it was running, so that its owner releases it exactly once.
    mutating func stop() -> Bool {
        guard self.isRunning else { return false }
        self.isRunning = false
        self.armedAt = nil
        return true
    }

    private mutating func arm(_ deadline: NIODeadline) -> Action {
        self.armedAt = deadline
        return .schedule(deadline)
    }
}
