import NIOCore
import NIOHTTP1
import Testing

@testable import SSEGateway

@Suite("HTTP connection state machine")
struct HTTPConnectionStateMachineTests {
    typealias Machine = HTTPConnectionStateMachine
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    let configuration = Machine.Configuration(
        requestHeaderTimeout: .seconds(10),
        requestBodyTimeout: .seconds(5),
        keepAliveTimeout: .seconds(60),
        middlewareTimeout: .seconds(3),
        maxBodyBytes: 100,
        retryAfterSeconds: 7
    )

    func ms(_ value: Int64) -> NIODeadline { self.start + .milliseconds(value) }

    func machine() -> Machine { Machine(configuration: self.configuration, now: self.start) }

    func head(_ method: HTTPMethod, _ uri: String, _ headers: [(String, String)] = []) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: HTTPHeaders(headers))
    }

    var publishHead: HTTPRequestHead {
        self.head(.POST, "/.well-known/mercure", [("Content-Type", "application/x-www-form-urlencoded")])
    }

    /// Feeds `parts` and returns every action but `.none` that the machine then yields, answering evaluations with
    /// `verdict`.
    func feed(
        _ machine: inout Machine,
        _ parts: [HTTPServerRequestPart],
        verdict: Machine.Verdict? = nil,
        at now: NIODeadline? = nil
    ) -> [Machine.Action] {
        for part in parts { machine.received(part) }
        return self.pump(&machine, verdict: verdict, at: now)
    }

    func pump(_ machine: inout Machine, verdict: Machine.Verdict? = nil, at now: NIODeadline? = nil) -> [Machine.Action]
    {
        var actions: [Machine.Action] = []
        while let action = machine.pump(now: now ?? self.start) {
            if action != .none { actions.append(action) }
            if case .evaluate = action, let verdict {
                let next = machine.evaluated(verdict, now: now ?? self.start)
                if next != .none { actions.append(next) }
            }
        }
        return actions
    }

    // MARK: Deadlines

    @Test func aNewConnectionHasTheHeadDeadlineAndGets408() {
        var machine = self.machine()
        #expect(machine.deadline == self.ms(10_000))
        #expect(machine.wantsRead)
        #expect(machine.timerFired(now: self.ms(9_999)) == .none, "a timer that fires early does nothing")
        guard case .respond(let response, keepAlive: false) = machine.timerFired(now: self.ms(10_000)) else {
            Issue.record("expected a 408")
            return
        }
        #expect(response.status == .requestTimeout)
        #expect(response.body.contains("10s"))
        #expect(machine.isClosed)
        #expect(machine.deadline == nil)
    }

    @Test func anIdleConnectionClosesSilentlyAfterTheKeepAliveTimeout() {
        var machine = self.machine()
        let actions = self.feed(
            &machine, [.head(self.head(.GET, "/healthz")), .end(nil)], verdict: .serve(.health, keepAlive: true))
        #expect(
            actions == [
                .evaluate(self.head(.GET, "/healthz")),
                .serveOperational(self.head(.GET, "/healthz"), .health, keepAlive: true),
            ])
        #expect(machine.deadline == self.ms(60_000))
        #expect(machine.timerFired(now: self.ms(60_000)) == .close)
        #expect(machine.isClosed)
    }

    @Test func bytesOnAnIdleConnectionStartTheHeadDeadline() {
        var machine = self.machine()
        _ = self.feed(
            &machine, [.head(self.head(.GET, "/healthz")), .end(nil)], verdict: .serve(.health, keepAlive: true))
        machine.bytesArrived(now: self.ms(1_000))
        #expect(
            machine.deadline == self.ms(11_000), "a slowloris head on a kept-alive connection gets the head timeout")
        guard case .respond(let response, keepAlive: false) = machine.timerFired(now: self.ms(11_000)) else {
            Issue.record("expected a 408")
            return
        }
        #expect(response.status == .requestTimeout)
    }

    @Test func aBodyHasItsOwnDeadline() {
        var machine = self.machine()
        _ = self.feed(
            &machine, [.head(self.publishHead)], verdict: .serve(.publish(mount: 0), keepAlive: true), at: self.ms(100))
        #expect(machine.deadline == self.ms(5_100))
        _ = self.feed(&machine, [.body(ByteBuffer(string: "topic="))], at: self.ms(4_000))
        #expect(machine.deadline == self.ms(5_100), "a trickled body does not move its deadline")
        guard case .respond(let response, keepAlive: false) = machine.timerFired(now: self.ms(5_100)) else {
            Issue.record("expected a 408")
            return
        }
        #expect(response.status == .requestTimeout)
        #expect(response.body.contains("body"))
    }

    @Test func aPhaseThatOverrunsIsAnswered503AndItsOutcomeIgnored() {
        var machine = self.machine()
        let actions = self.feed(
            &machine, [.head(self.publishHead), .body(ByteBuffer(string: "topic=a")), .end(nil)],
            verdict: .serve(.publish(mount: 0), keepAlive: true))
        #expect(actions.last == .runPublishPhase(self.publishHead, body: ByteBuffer(string: "topic=a")))
        #expect(!machine.wantsRead, "no further request is read while a publish is decided")
        #expect(machine.deadline == self.ms(3_000))
        guard case .abandonPhase(answer: let answer?) = machine.timerFired(now: self.ms(3_000)) else {
            Issue.record("expected the phase to be abandoned with an answer")
            return
        }
        #expect(answer.status == .serviceUnavailable)
        #expect(answer.headers.contains { $0.0 == "Retry-After" && $0.1 == "7" })
        #expect(machine.phaseFinished(.commit, now: self.ms(3_001)) == .none, "a late outcome is never acted on")
    }

    // MARK: Pipelining

    @Test func aPipelinedRequestWaitsUntilThePublishBeforeItIsAnswered() {
        var machine = self.machine()
        let second = self.head(.GET, "/healthz")
        let actions = self.feed(
            &machine,
            [.head(self.publishHead), .body(ByteBuffer(string: "topic=a")), .end(nil), .head(second), .end(nil)],
            verdict: .serve(.publish(mount: 0), keepAlive: true)
        )
        #expect(actions.count == 2, "the second request waits: \(actions)")
        #expect(!machine.wantsRead)
        #expect(machine.phaseFinished(.commit, now: self.start) == .commitPublish)
        #expect(self.pump(&machine) == [], "nor is it acted on while the publish commits")
        let answer = HTTPResponse(status: .ok, body: "urn:uuid:1")
        #expect(machine.committed(answer, now: self.start) == .respondToCommit(answer, keepAlive: true))
        #expect(
            self.pump(&machine, verdict: .serve(.health, keepAlive: true))
                == [.evaluate(second), .serveOperational(second, .health, keepAlive: true)])
        #expect(machine.wantsRead)
    }

    @Test func aRefusedPublishAnswersAndTheNextRequestFollows() {
        var machine = self.machine()
        _ = self.feed(
            &machine, [.head(self.publishHead), .end(nil)], verdict: .serve(.publish(mount: 0), keepAlive: true))
        let refusal = HTTPResponse.text(.forbidden, "no")
        #expect(
            machine.phaseFinished(.answer(refusal, keepAlive: true), now: self.start)
                == .respond(refusal, keepAlive: true))
        #expect(machine.deadline == self.ms(60_000))
    }

    @Test func aConnectionCloseRequestDropsWhatFollowsIt() {
        var machine = self.machine()
        let closing = self.head(.GET, "/healthz", [("Connection", "close")])
        let actions = self.feed(
            &machine, [.head(closing), .end(nil), .head(self.head(.GET, "/readyz")), .end(nil)],
            verdict: .serve(.health, keepAlive: true))
        #expect(actions == [.evaluate(closing), .serveOperational(closing, .health, keepAlive: false)])
        #expect(machine.isClosed)
    }

    @Test func aStreamTakesTheConnectionAndDropsPipelinedRequests() {
        var machine = self.machine()
        let subscribe = self.head(.GET, "/.well-known/mercure?topic=a")
        let actions = self.feed(
            &machine, [.head(subscribe), .end(nil), .head(self.head(.GET, "/healthz")), .end(nil)],
            verdict: .serve(.subscribe(mount: 0), keepAlive: true))
        #expect(actions == [.evaluate(subscribe), .runConnectPhase(subscribe)])
        #expect(machine.deadline == self.ms(3_000), "the connect phase runs under the middleware deadline")
        #expect(machine.phaseFinished(.openStream, now: self.start) == .switchToStream)
        #expect(machine.isStreaming)
        #expect(machine.deadline == nil)
        #expect(self.pump(&machine) == [])
        #expect(machine.phaseFinished(.commit, now: self.start) == .none)
    }

    @Test func theClientLeavingDuringAPhaseAbandonsIt() {
        var machine = self.machine()
        _ = self.feed(
            &machine, [.head(self.publishHead), .end(nil)], verdict: .serve(.publish(mount: 0), keepAlive: true))
        #expect(machine.channelClosed() == .abandonPhase(answer: nil))
        #expect(machine.phaseFinished(.commit, now: self.start) == .none, "an unanswerable publish is not published")
        #expect(machine.channelClosed() == .none)
    }

    // MARK: Half-closed input

    @Test func aFINAfterACompleteRequestStillGetsItsAnswer() {
        var machine = self.machine()
        _ = self.feed(
            &machine, [.head(self.publishHead), .end(nil)], verdict: .serve(.publish(mount: 0), keepAlive: true))
        #expect(machine.inputClosed() == .none)
        #expect(machine.phaseFinished(.commit, now: self.start) == .commitPublish)
        let answer = HTTPResponse(status: .ok, body: "id")
        #expect(machine.committed(answer, now: self.start) == .respondToCommit(answer, keepAlive: true))
        #expect(self.pump(&machine) == [.close], "then the connection closes: nothing more can arrive")
    }

    @Test func aFINDuringAConnectPhaseAbandonsTheStream() {
        var machine = self.machine()
        _ = self.feed(
            &machine, [.head(self.head(.GET, "/.well-known/mercure?topic=a")), .end(nil)],
            verdict: .serve(.subscribe(mount: 0), keepAlive: true))
        #expect(machine.inputClosed() == .abandonPhase(answer: nil))
        #expect(machine.isClosed)
    }

    @Test func aFINMidHeadClosesWithoutAnAnswer() {
        var machine = self.machine()
        #expect(machine.inputClosed() == .none)
        #expect(self.pump(&machine) == [.close])
    }

    // MARK: Bodies

    @Test func aContentLengthOverTheLimitIs413BeforeTheBody() {
        var machine = self.machine()
        var head = self.publishHead
        head.headers.add(name: "Content-Length", value: "101")
        let actions = self.feed(
            &machine, [.head(head), .body(ByteBuffer(string: "x"))],
            verdict: .serve(.publish(mount: 0), keepAlive: true))
        guard case .respond(let response, keepAlive: false) = actions.last else {
            Issue.record("expected a 413, got \(actions)")
            return
        }
        #expect(response.status == .payloadTooLarge)
        #expect(machine.isClosed)
    }

    @Test func aChunkedBodyOverTheLimitIs413() {
        var machine = self.machine()
        let chunk = ByteBuffer(string: String(repeating: "x", count: 60))
        let actions = self.feed(
            &machine, [.head(self.publishHead), .body(chunk), .body(chunk), .end(nil)],
            verdict: .serve(.publish(mount: 0), keepAlive: true))
        guard case .respond(let response, keepAlive: false) = actions.last else {
            Issue.record("expected a 413, got \(actions)")
            return
        }
        #expect(response.status == .payloadTooLarge)
    }

    @Test func aBodyInManyChunksArrivesWhole() {
        var machine = self.machine()
        var parts: [HTTPServerRequestPart] = [.head(self.publishHead)]
        for index in 0..<50 { parts.append(.body(ByteBuffer(string: String(index % 10)))) }
        parts.append(.end(nil))
        let actions = self.feed(&machine, parts, verdict: .serve(.publish(mount: 0), keepAlive: true))
        let expected = (0..<50).map { String($0 % 10) }.joined()
        #expect(actions.last == .runPublishPhase(self.publishHead, body: ByteBuffer(string: expected)))
    }

    @Test func aBodyWithAKnownLengthIsWrittenIntoOneBuffer() {
        var body = RequestBody(keepsBytes: true, expectedSize: 1000)
        body.append(ByteBuffer(repeating: 1, count: 10))
        let base = body.bytes.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        for _ in 0..<99 { body.append(ByteBuffer(repeating: 2, count: 10)) }
        #expect(body.size == 1000)
        #expect(
            body.bytes.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } == base, "no reallocation, no copy")
    }

    @Test func aRefusedRequestIsAnsweredAfterItsBodyAndKeepsTheConnection() {
        var machine = self.machine()
        let refusal = HTTPResponse.text(.notFound, "no such path")
        let actions = self.feed(
            &machine, [.head(self.head(.POST, "/nope")), .body(ByteBuffer(string: "ignored")), .end(nil)],
            verdict: .answer(refusal, close: false))
        #expect(actions == [.evaluate(self.head(.POST, "/nope")), .respond(refusal, keepAlive: true)])
        #expect(machine.wantsRead)
    }

    @Test func aRefusalToAClientWaitingForContinueIsSentAtOnceAndCloses() {
        var machine = self.machine()
        var head = self.publishHead
        head.headers.add(name: "Expect", value: "100-continue")
        let refusal = HTTPResponse.text(.forbidden, "no")
        let actions = self.feed(&machine, [.head(head)], verdict: .answer(refusal, close: false))
        #expect(actions == [.evaluate(head), .respond(refusal, keepAlive: false)])
    }

    @Test func aPublishWaitingForContinueIsAdmittedFromItsHeadFirst() {
        var machine = self.machine()
        var head = self.publishHead
        head.headers.add(name: "Expect", value: "100-continue")
        head.headers.add(name: "Content-Length", value: "7")
        let actions = self.feed(&machine, [.head(head)], verdict: .serve(.publish(mount: 0), keepAlive: true))
        #expect(actions == [.evaluate(head), .runAdmissionPhase(head)])
        #expect(!machine.wantsRead)
        #expect(machine.deadline == self.ms(3_000), "admission runs under the middleware deadline")
        // A client that stops waiting sends its body anyway: it waits in the inbox.
        machine.received(.body(ByteBuffer(string: "topic=a")))
        machine.received(.end(nil))
        #expect(self.pump(&machine) == [])
        #expect(machine.phaseFinished(.readBody, now: self.ms(10)) == .sendContinue)
        #expect(machine.deadline == self.ms(5_010), "then the body deadline")
        #expect(self.pump(&machine) == [.runPublishPhase(head, body: ByteBuffer(string: "topic=a"))])
    }

    @Test func aPublishRefusedFromItsHeadIsAnsweredWithoutItsBodyAndCloses() {
        var machine = self.machine()
        var head = self.publishHead
        head.headers.add(name: "Expect", value: "100-continue")
        _ = self.feed(&machine, [.head(head)], verdict: .serve(.publish(mount: 0), keepAlive: true))
        let refusal = HTTPResponse.text(.unauthorized, "no token")
        #expect(
            machine.phaseFinished(.answer(refusal, keepAlive: false), now: self.start)
                == .respond(refusal, keepAlive: false))
        #expect(machine.isClosed)
    }

    @Test func anotherRequestWaitingForContinueGetsItAtOnce() {
        var machine = self.machine()
        let head = self.head(.GET, "/healthz", [("Expect", "100-continue")])
        let actions = self.feed(&machine, [.head(head)], verdict: .serve(.health, keepAlive: true))
        #expect(actions == [.evaluate(head), .sendContinue])
    }

    @Test func aRefusalWithCloseSkipsTheBodyAndDropsWhatFollows() {
        var machine = self.machine()
        let refusal = HTTPResponse.retryLater("busy", after: 5)
        let actions = self.feed(
            &machine, [.head(self.publishHead), .body(ByteBuffer(string: "topic=a")), .end(nil)],
            verdict: .answer(refusal, close: true))
        #expect(actions == [.evaluate(self.publishHead), .respond(refusal, keepAlive: false)])
        #expect(machine.isClosed)
    }

    // MARK: Malformed input and back-pressure

    @Test func malformedBytesAfterAPendingRequestAreRefusedInTurn() {
        var machine = self.machine()
        _ = self.feed(
            &machine, [.head(self.publishHead), .end(nil)], verdict: .serve(.publish(mount: 0), keepAlive: true))
        machine.decodingFailed(HTTPParserError.invalidChunkSize)
        #expect(self.pump(&machine) == [], "the publish ahead of it is answered first")
        let answer = HTTPResponse(status: .ok, body: "id")
        _ = machine.phaseFinished(.commit, now: self.start)
        #expect(machine.committed(answer, now: self.start) == .respondToCommit(answer, keepAlive: true))
        guard case .respond(let response, keepAlive: false) = self.pump(&machine).first else {
            Issue.record("expected a 400")
            return
        }
        #expect(response.status == .badRequest)
        #expect(machine.isClosed)
    }

    @Test func aHeaderOverflowIs431() {
        var machine = self.machine()
        machine.decodingFailed(HTTPParserError.headerOverflow)
        guard case .respond(let response, keepAlive: false) = self.pump(&machine).first else {
            Issue.record("expected a 431")
            return
        }
        #expect(response.status == .requestHeaderFieldsTooLarge)
    }

    @Test func aClientThatDoesNotReadItsAnswersIsNotServedFurther() {
        var machine = self.machine()
        _ = self.feed(
            &machine, [.head(self.head(.GET, "/metrics")), .end(nil)], verdict: .serve(.metrics, keepAlive: true))
        machine.writabilityChanged(isWritable: false, now: self.ms(10))
        let actions = self.feed(
            &machine, [.head(self.head(.GET, "/healthz")), .end(nil)], verdict: .serve(.health, keepAlive: true))
        #expect(actions == [])
        #expect(!machine.wantsRead)
        #expect(machine.deadline == self.ms(60_010))
        machine.writabilityChanged(isWritable: true, now: self.ms(20))
        #expect(self.pump(&machine, verdict: .serve(.health, keepAlive: true)).count == 2)
    }

    @Test func aClientThatNeverReadsIsClosedAtTheKeepAliveDeadline() {
        var machine = self.machine()
        _ = self.feed(
            &machine, [.head(self.head(.GET, "/metrics")), .end(nil)], verdict: .serve(.metrics, keepAlive: true))
        machine.writabilityChanged(isWritable: false, now: self.ms(10))
        #expect(machine.timerFired(now: self.ms(60_010)) == .close)
    }
}
