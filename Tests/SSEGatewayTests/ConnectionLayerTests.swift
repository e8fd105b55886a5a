import NIOCore
import Testing

@testable import SSEGateway

/// A publish phase that takes its time, so that the next pipelined request arrives while it runs; it counts the
/// phases it finishes, so a test can wait for a phase that outlived its request.
private struct DelayedPublish: Middleware {
    let delay: Duration
    let finished = EventCounter()

    func publish(_ publish: PublishContext) async throws {
        try? await Task.sleep(for: self.delay)
        self.finished.increment()
    }

    func waitUntilFinished(_ count: Int) async throws {
        try await self.finished.wait(for: count, "\(count) publish phases to finish")
    }
}

/// Refuses from the head a publish without `X-Allow`, and counts the publish phases that ran.
private struct HeadGate: Middleware {
    let publishes = EventCounter()

    func admitPublish(_ request: RequestFacts) async throws {
        guard request.headers.contains(name: "x-allow") else {
            throw HTTPRejection(.unauthorized, reason: "no X-Allow header")
        }
    }

    func publish(_ publish: PublishContext) async throws {
        self.publishes.increment()
    }
}

@Suite("Connection layer over loopback: pipelining, deadlines, half-close")
struct ConnectionLayerTests {
    static func publishRequest(topic: String, id: String, token: String? = nil) -> String {
        let body = "topic=\(topic)&id=\(id)&data=x"
        var request = "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n"
        request += "Content-Type: application/x-www-form-urlencoded\r\n"
        if let token { request += "Authorization: Bearer \(token)\r\n" }
        return request + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
    }

    @Test(arguments: [2, 3])
    func pipelinedPublishesThroughAnAsyncPhaseAreEachAnsweredInOrderAndPublishedOnce(count: Int) async throws {
        let delay = DelayedPublish(delay: .milliseconds(30))
        try await TestGateway.run(
            middleware: [delay], configuration: AuthFixture.configuration(["anonymous": .bool(true)])
        ) { _, port in
            let token = try await AuthFixture.publisherToken()
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=pipelined")
            let publisher = try await RawClient.connect(port: port)
            let ids = (1...count).map { "urn:test:\($0)" }
            // One write: every request is on the server before the first one's phases (auth, then the delay) end.
            try await publisher.send(ids.map { Self.publishRequest(topic: "pipelined", id: $0, token: token) }.joined())
            for id in ids {
                let response = try await publisher.readResponse()
                #expect(response.status == 200)
                #expect(response.body == id, "answers come in request order")
                #expect(response.header("connection") == "keep-alive")
            }
            // A marker after them: once it arrives, any duplicate would have arrived before it.
            let marker = try await TestPublisher.connect(port: port)
            let markerResponse = try await marker.publish(
                [("topic", "pipelined"), ("id", "urn:test:marker")], headers: ["Authorization: Bearer \(token)"])
            #expect(markerResponse.status == 200)
            try await subscriber.waitForEvents(count + 1)
            #expect(try await subscriber.ids() == ids + ["urn:test:marker"])
        }
    }

    @Test func aSubscribePipelinedAfterAPublishGetsItsStream() async throws {
        try await TestGateway.run(middleware: [DelayedPublish(delay: .milliseconds(30))]) { _, port in
            let client = try await RawClient.connect(port: port)
            try await client.send(
                Self.publishRequest(topic: "a", id: "urn:test:before")
                    + "GET /.well-known/mercure?topic=a HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = try await client.readResponse()
            #expect(answer.status == 200)
            #expect(answer.body == "urn:test:before")
            try await client.waitFor(text: "text/event-stream")
            let stream = TestSubscriber(client: client)
            let publisher = try await TestPublisher.connect(port: port)
            #expect(try await publisher.publish([("topic", "a"), ("id", "urn:test:after")]).status == 200)
            try await stream.waitForEvents(1)
            #expect(
                try await stream.ids() == ["urn:test:after"], "the publish answered before the stream is not replayed")
        }
    }

    @Test func aTrickledBodyIsCutAtItsDeadlineWhileAnotherPublishIsAnswered() async throws {
        let configuration = GatewayConfiguration.testing { $0.server.requestBodyTimeout = .milliseconds(400) }
        try await TestGateway.run(configuration: configuration) { _, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=t")
            let trickler = try await RawClient.connect(port: port)
            var head = "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n"
            head += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\ntopic=t&data="
            let started = ContinuousClock.now
            try await trickler.send(head)
            let trickle = Task {
                while !Task.isCancelled {
                    try await Task.sleep(for: .milliseconds(50))
                    try await trickler.send("x")
                }
            }
            defer { trickle.cancel() }
            // Meanwhile another client publishes as usual.
            let publisher = try await TestPublisher.connect(port: port)
            let normal = try await publisher.publish([("topic", "t"), ("id", "urn:test:normal")])
            #expect(normal.status == 200)
            let response = try await trickler.readResponse(timeout: .seconds(3))
            let elapsed = ContinuousClock.now - started
            #expect(response.status == 408)
            #expect(response.body.contains("body"))
            try await trickler.waitForClose()
            #expect(elapsed >= .milliseconds(400))
            #expect(elapsed < .milliseconds(500), "cut at the deadline plus at most 100 ms, took \(elapsed)")
            try await subscriber.waitForEvents(1)
            #expect(try await subscriber.ids() == ["urn:test:normal"])
        }
    }

    @Test func aPublishPhaseThatOverrunsIsAnswered503AndNeverPublished() async throws {
        let slow = DelayedPublish(delay: .milliseconds(600))
        let configuration = GatewayConfiguration.testing {
            $0.server.middlewareTimeout = .milliseconds(150)
            $0.server.retryAfter = .seconds(3)
        }
        try await TestGateway.run(middleware: [slow], configuration: configuration) { _, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=slow")
            let publisher = try await RawClient.connect(port: port)
            try await publisher.send(Self.publishRequest(topic: "slow", id: "urn:test:late"))
            let response = try await publisher.readResponse()
            #expect(response.status == 503)
            #expect(response.header("retry-after") == "3")
            try await publisher.waitForClose()
            try await slow.waitUntilFinished(1)
            // The phase has finished now: its update must not reach the hub. A marker proves it did not.
            let marker = try await TestPublisher.connect(port: port)
            let published = try await marker.publish([("topic", "slow"), ("id", "urn:test:marker")])
            #expect(published.status == 503, "the marker goes through the same slow chain")
            try await slow.waitUntilFinished(2)
            #expect(try await subscriber.ids().isEmpty)
        }
    }

    @Test func aClientThatLeavesDuringThePublishPhaseIsNotPublished() async throws {
        let slow = DelayedPublish(delay: .milliseconds(100))
        try await TestGateway.run(middleware: [slow]) { server, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=gone")
            let publisher = try await RawClient.connect(port: port)
            try await publisher.send(Self.publishRequest(topic: "gone", id: "urn:test:gone"))
            try await publisher.reset()
            try await slow.waitUntilFinished(1)
            // The marker goes through the same chain after the abandoned phase ended: once it is delivered, the
            // abandoned update would have been too.
            let marker = try await TestPublisher.connect(port: port)
            #expect(try await marker.publish([("topic", "gone"), ("id", "urn:test:marker")]).status == 200)
            try await subscriber.waitForEvents(1)
            #expect(try await subscriber.ids() == ["urn:test:marker"])
            #expect(server.hub.historyCount == 1, "only the marker entered the hub")
        }
    }

    @Test func expectContinueIsAnsweredBeforeTheBody() async throws {
        try await TestGateway.run { _, port in
            let client = try await RawClient.connect(port: port)
            let body = "topic=c&id=urn:test:continued"
            var head = "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            head += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
            try await client.send(head)
            try await client.waitFor(text: "HTTP/1.1 100 Continue\r\n\r\n")
            try await client.send(body)
            try await client.waitFor(text: "urn:test:continued")
            #expect(try await client.text.hasPrefix("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"))

            // A request refused from its head is answered at once, without asking for the body.
            let refused = try await RawClient.connect(port: port)
            try await refused.send(
                "POST /nope HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n")
            let answer = try await refused.readResponse()
            #expect(answer.status == 404)
            try await refused.waitForClose()
            #expect(try await !refused.text.contains("100 Continue"))
        }
    }

    @Test func aPublishWaitingForContinueIsRefusedFromItsHeadWithoutItsBody() async throws {
        let gate = HeadGate()
        try await TestGateway.run(middleware: [gate]) { _, port in
            var head = "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            head += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n"
            let refused = try await RawClient.connect(port: port)
            try await refused.send(head + "\r\n")
            let answer = try await refused.readResponse()
            #expect(answer.status == 401)
            #expect(answer.body == "no X-Allow header\n")
            try await refused.waitForClose()
            #expect(try await !refused.text.contains("100 Continue"))

            let admitted = try await RawClient.connect(port: port)
            try await admitted.send(head + "X-Allow: 1\r\n\r\n")
            try await admitted.waitFor(text: "HTTP/1.1 100 Continue\r\n\r\n")
            try await admitted.send("topic=a")
            try await admitted.waitFor(text: "urn:uuid:")
            #expect(gate.publishes.count == 1, "only the admitted publish reached the publish phase")
        }
    }

    @Test func aClientThatHalfClosesAfterItsRequestStillGetsItsAnswer() async throws {
        try await TestGateway.run(middleware: [DelayedPublish(delay: .milliseconds(30))]) { _, port in
            let client = try await RawClient.connect(port: port)
            try await client.send(Self.publishRequest(topic: "h", id: "urn:test:half"))
            try await client.channel.close(mode: .output)
            let response = try await client.readResponse()
            #expect(response.status == 200)
            #expect(response.body == "urn:test:half")
            try await client.waitForClose()
        }
    }
}
