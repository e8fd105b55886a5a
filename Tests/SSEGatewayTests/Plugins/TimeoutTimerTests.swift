import NIOCore
import Testing

@testable import Timeout

@Suite("Timeout timer state machine")
struct TimeoutTimerTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func ms(_ value: Int64) -> NIODeadline { self.start + .milliseconds(value) }

    @Test func jitterSpansEightyToOneHundredPercent() {
        let maximum = TimeAmount.seconds(100)
        #expect(TimeoutTimer.jitteredLifetime(maximum, random: 0) == .seconds(80))
        #expect(TimeoutTimer.jitteredLifetime(maximum, random: 0.5) == .seconds(90))
        #expect(TimeoutTimer.jitteredLifetime(maximum, random: 1) == .seconds(100))
        #expect(TimeoutTimer.jitteredLifetime(maximum, random: -3) == .seconds(80), "clamped")
        #expect(TimeoutTimer.jitteredLifetime(maximum, random: 7) == .seconds(100), "clamped")
        for step in 0...1000 {
            let lifetime = TimeoutTimer.jitteredLifetime(maximum, random: Double(step) / 1000)
            #expect(lifetime >= .seconds(80) && lifetime <= .seconds(100))
        }
    }

    @Test func idleRearmsForTheLastEventWithoutReschedulingPerEvent() {
        var timer = TimeoutTimer(idle: .milliseconds(300), lifetime: nil, now: self.start)
        #expect(timer.start() == .schedule(self.ms(300)))
        timer.eventWritten(at: self.ms(100))
        timer.eventWritten(at: self.ms(250))
        #expect(timer.timerFired(now: self.ms(300)) == .schedule(self.ms(550)))
        #expect(timer.timerFired(now: self.ms(550)) == .expire(.idle))
        #expect(!timer.isRunning)
        #expect(timer.timerFired(now: self.ms(600)) == .none)
    }

    @Test func lifetimeWinsOverActivity() {
        var timer = TimeoutTimer(idle: .milliseconds(300), lifetime: .milliseconds(500), now: self.start)
        #expect(timer.start() == .schedule(self.ms(300)))
        timer.eventWritten(at: self.ms(290))
        #expect(timer.timerFired(now: self.ms(300)) == .schedule(self.ms(500)))
        timer.eventWritten(at: self.ms(450))
        #expect(timer.timerFired(now: self.ms(500)) == .expire(.maxLifetime))
    }

    @Test func lifetimeOnlyNeedsOneTask() {
        var timer = TimeoutTimer(idle: nil, lifetime: .seconds(10), now: self.start)
        #expect(timer.start() == .schedule(self.ms(10_000)))
        timer.eventWritten(at: self.ms(5000))
        #expect(timer.timerFired(now: self.ms(10_000)) == .expire(.maxLifetime))
    }

    @Test func noLimitNeedsNoTimer() {
        var timer = TimeoutTimer(idle: nil, lifetime: nil, now: self.start)
        #expect(timer.start() == .none)
        #expect(!timer.isRunning)
        let stopped = timer.stop()
        #expect(!stopped, "a timer without limits never ran")
    }

    @Test func stopReleasesOnce() {
        var timer = TimeoutTimer(idle: .seconds(1), lifetime: nil, now: self.start)
        _ = timer.start()
        let stopped = timer.stop()
        #expect(stopped)
        let stoppedTwice = timer.stop()
        #expect(!stoppedTwice)
        #expect(timer.timerFired(now: self.ms(5000)) == .none)
    }
}
