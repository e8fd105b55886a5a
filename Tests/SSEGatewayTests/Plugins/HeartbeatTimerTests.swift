import NIOCore
import Testing

@testable import Heartbeat

@Suite("Heartbeat timer state machine")
struct HeartbeatTimerTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func ms(_ value: Int64) -> NIODeadline { self.start + .milliseconds(value) }

    @Test func idleStreamBeatsEveryInterval() {
        var timer = HeartbeatTimer(interval: .milliseconds(100), deadPeerTimeout: nil, now: self.start)
        #expect(timer.start(now: self.start) == .schedule(self.ms(100)))
        #expect(timer.timerFired(now: self.ms(100)) == .sendHeartbeat(thenScheduleAt: self.ms(200)))
        #expect(timer.timerFired(now: self.ms(200)) == .sendHeartbeat(thenScheduleAt: self.ms(300)))
    }

    @Test func writesMoveTheNextBeatWithoutRescheduling() {
        var timer = HeartbeatTimer(interval: .milliseconds(100), deadPeerTimeout: nil, now: self.start)
        _ = timer.start(now: self.start)
        for at in stride(from: Int64(10), through: 90, by: 10) {
            timer.didWrite(at: self.ms(at))
            #expect(timer.armedAt == self.ms(100), "a write must not touch the scheduled task")
        }
        // The task fires at its first deadline, finds a write 10 ms ago and re-arms for lastWrite + interval.
        #expect(timer.timerFired(now: self.ms(100)) == .schedule(self.ms(190)))
        #expect(timer.timerFired(now: self.ms(190)) == .sendHeartbeat(thenScheduleAt: self.ms(290)))
    }

    @Test func unwritableSocketPullsTheTaskToTheDeadPeerDeadlineAndClosesThere() {
        var timer = HeartbeatTimer(interval: .seconds(15), deadPeerTimeout: .milliseconds(500), now: self.start)
        _ = timer.start(now: self.start)
        #expect(timer.writabilityChanged(isWritable: false, now: self.ms(1000)) == .schedule(self.ms(1500)))
        // A second "unwritable" does not restart the bound.
        #expect(timer.writabilityChanged(isWritable: false, now: self.ms(1200)) == .none)
        #expect(timer.timerFired(now: self.ms(1500)) == .closeDeadPeer)
        #expect(!timer.isRunning)
        #expect(timer.timerFired(now: self.ms(1600)) == .none)
        let stoppedAgain = timer.stop()
        #expect(!stoppedAgain, "a timer that closed the session has already stopped")
    }

    @Test func writableAgainBeforeTheBoundKeepsTheStream() {
        var timer = HeartbeatTimer(interval: .seconds(1), deadPeerTimeout: .milliseconds(500), now: self.start)
        _ = timer.start(now: self.start)
        #expect(timer.writabilityChanged(isWritable: false, now: self.ms(100)) == .schedule(self.ms(600)))
        #expect(timer.writabilityChanged(isWritable: true, now: self.ms(400)) == .none)
        // The early task finds the socket writable and goes back to the heartbeat schedule.
        #expect(timer.timerFired(now: self.ms(600)) == .schedule(self.ms(1000)))
        #expect(timer.timerFired(now: self.ms(1000)) == .sendHeartbeat(thenScheduleAt: self.ms(2000)))
    }

    @Test func noHeartbeatWhileUnwritable() {
        var timer = HeartbeatTimer(interval: .milliseconds(100), deadPeerTimeout: nil, now: self.start)
        _ = timer.start(now: self.start)
        #expect(timer.writabilityChanged(isWritable: false, now: self.ms(50)) == .none)
        #expect(timer.timerFired(now: self.ms(100)) == .schedule(self.ms(200)))
        #expect(timer.writabilityChanged(isWritable: true, now: self.ms(150)) == .none)
        #expect(timer.timerFired(now: self.ms(200)) == .sendHeartbeat(thenScheduleAt: self.ms(300)))
    }

    @Test func deadPeerBoundLongerThanTheIntervalKeepsTheEarlierTask() {
        var timer = HeartbeatTimer(interval: .milliseconds(100), deadPeerTimeout: .milliseconds(250), now: self.start)
        _ = timer.start(now: self.start)
        #expect(timer.writabilityChanged(isWritable: false, now: self.ms(10)) == .none)
        #expect(timer.timerFired(now: self.ms(100)) == .schedule(self.ms(200)))
        #expect(timer.timerFired(now: self.ms(200)) == .schedule(self.ms(260)))
        #expect(timer.timerFired(now: self.ms(260)) == .closeDeadPeer)
    }

    @Test func stopReleasesOnce() {
        var timer = HeartbeatTimer(interval: .milliseconds(100), deadPeerTimeout: nil, now: self.start)
        let stoppedBeforeStart = timer.stop()
        #expect(!stoppedBeforeStart)
        _ = timer.start(now: self.start)
        let stopped = timer.stop()
        #expect(stopped)
        let stoppedTwice = timer.stop()
        #expect(!stoppedTwice)
        #expect(timer.timerFired(now: self.ms(100)) == .none)
        #expect(timer.writabilityChanged(isWritable: false, now: self.ms(100)) == .none)
    }
}
