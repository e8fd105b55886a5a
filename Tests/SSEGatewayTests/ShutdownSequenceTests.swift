import Testing

@testable import SSEGateway

@Suite("ShutdownSequence")
struct ShutdownSequenceTests {
    static func settings() -> GatewayConfiguration.Shutdown {
        var settings = GatewayConfiguration.Shutdown()
        settings.readinessGrace = .seconds(2)
        settings.drainTimeout = .seconds(3)
        settings.handlerTimeout = .seconds(4)
        settings.handlers = ["stuck": .milliseconds(500)]
        return settings
    }

    @Test func stepsRunInOrderThenHandlersWithTheirTimeouts() {
        var machine = ShutdownSequence(configuration: Self.settings(), handlers: ["stuck", "fast"])
        var actions = [machine.start()]
        for _ in 0..<5 { actions.append(machine.stepFinished()) }
        actions.append(machine.stepFinished())
        actions.append(machine.handlerFinished(.finished))
        actions.append(machine.handlerFinished(.finished))
        #expect(
            actions == [
                .markNotReady, .waitGrace(.seconds(2)), .closeListener, .sendNotice, .drain(.seconds(3)),
                .closeSessions, .runHandler(name: "stuck", timeout: .milliseconds(500)),
                .runHandler(name: "fast", timeout: .seconds(4)), .exit(.clean),
            ]
        )
        #expect(machine.isFinished)
        #expect(machine.signalReceived() == .none)
        #expect(machine.deadlineReached() == .none)
    }

    @Test(arguments: [ShutdownSequence.HandlerOutcome.threw, .timedOut])
    func aFailedHandlerDoesNotStopTheOthersButSetsTheExitCode(outcome: ShutdownSequence.HandlerOutcome) {
        var machine = ShutdownSequence(configuration: Self.settings(), handlers: ["a", "b"])
        var action = machine.start()
        for _ in 0..<6 { action = machine.stepFinished() }
        #expect(action == .runHandler(name: "a", timeout: .seconds(4)))
        #expect(machine.handlerFinished(outcome) == .runHandler(name: "b", timeout: .seconds(4)))
        #expect(machine.handlerFinished(.finished) == .exit(.handlerFailed))
    }

    @Test func noHandlersExitsCleanAfterClosingSessions() {
        var machine = ShutdownSequence(configuration: Self.settings(), handlers: [])
        _ = machine.start()
        for _ in 0..<5 { _ = machine.stepFinished() }
        #expect(machine.stepFinished() == .exit(.clean))
    }

    @Test func secondSignalSkipsToFastExit() {
        var machine = ShutdownSequence(configuration: Self.settings(), handlers: ["a"])
        #expect(machine.signalReceived() == .none, "no sequence running yet")
        _ = machine.start()
        _ = machine.stepFinished()
        #expect(machine.signalReceived() == .exit(.fastExit))
        #expect(machine.stepFinished() == .none)
        #expect(machine.deadlineReached() == .none)
        #expect(machine.start() == .none)
    }

    @Test func hardDeadlineEndsTheSequence() {
        var machine = ShutdownSequence(configuration: Self.settings(), handlers: ["a"])
        _ = machine.start()
        #expect(machine.deadlineReached() == .exit(.deadlineExceeded))
        #expect(machine.handlerFinished(.finished) == .none)
    }
}
