import NIOCore
import Testing

@testable import SSEGateway

/// Sets fixed claims on every session, standing in for an auth middleware.
struct FixedClaimsMiddleware: Middleware {
    var subscribe: [String]
    func connect(_ session: Session) async throws {
        session.claims = SubscriberClaims(subscribe: self.subscribe.map(TopicSelector.init))
    }
}

@Suite("Mercure hub over loopback")
struct HubLiveTests {
    @Test func publishAnswers200WithTheIDAsPlainText() async throws {
        try await TestGateway.run { _, port in
            let publisher = try await TestPublisher.connect(port: port)
            let custom = try await publisher.publish([("topic", "https://example.com/a"), ("id", "my-id")])
            #expect(custom.status == 200)
            #expect(custom.body == "my-id")
            #expect(custom.header("content-type")?.hasPrefix("text/plain") == true)
            let generated = try await publisher.publish([("topic", "https://example.com/a"), ("data", "x")])
            #expect(generated.status == 200)
            #expect(generated.body.hasPrefix("urn:uuid:"))
            #expect(generated.body.count == "urn:uuid:".count + 36)
        }
    }

    @Test func publishValidationErrors() async throws {
        try await TestGateway.run { _, port in
            let publisher = try await TestPublisher.connect(port: port)
            let missing = try await publisher.publish([("data", "x")])
            #expect(missing.status == 400)
            #expect(missing.body.contains("Missing \"topic\" parameter"))
            let tooMany = try await publisher.publish(Array(repeating: ("topic", "t"), count: 1001))
            #expect(tooMany.status == 400)
            #expect(try await publisher.publish([("topic", "t"), ("retry", "abc")]).status == 400)
            #expect(try await publisher.publish([("topic", "t"), ("id", "a\nb")]).status == 400)
            #expect(try await publisher.publish([("topic", "t"), ("type", "a\rb")]).status == 400)
            #expect(try await publisher.publish([("topic", "https://x/.well-known/mercure/y")]).status == 403)
        }
    }

    @Test func publishFromAnAddressNotListedIsForbidden() async throws {
        try await TestGateway.run(
            configuration: .testing {
                $0.hub.publishAllowedFrom = [try! IPAddressRange(parsing: "10.0.0.0/8")]
            }
        ) { _, port in
            let publisher = try await TestPublisher.connect(port: port)
            let response = try await publisher.publish([("topic", "t")])
            #expect(response.status == 403)
        }
    }

    @Test func publishWithoutFormContentTypeIs415() async throws {
        try await TestGateway.run { _, port in
            let client = try await RawClient.connect(port: port)
            try await client.sendRequest(
                "POST",
                "/.well-known/mercure",
                headers: ["Content-Type: application/json"],
                body: "{}"
            )
            #expect(try await client.readResponse().status == 415)
        }
    }

    @Test func subscribeWithoutTopicIs400() async throws {
        try await TestGateway.run { _, port in
            let client = try await RawClient.connect(port: port)
            try await client.sendRequest("GET", "/.well-known/mercure")
            let response = try await client.readResponse()
            #expect(response.status == 400)
            #expect(response.body.contains("Missing \"topic\" parameter"))
        }
    }

    @Test func streamHeadersAndOpeningComment() async throws {
        try await TestGateway.run { _, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=a")
            let head = try await subscriber.head()
            #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(head.contains("Content-Type: text/event-stream\r\n"))
            #expect(head.contains("Cache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\n"))
            #expect(head.contains("X-Accel-Buffering: no\r\n"))
            #expect(head.contains("Transfer-Encoding: chunked\r\n"))
            #expect(!head.contains("Last-Event-ID"))
            #expect(try await subscriber.body() == ":\n")
        }
    }

    @Test func framingIsExactOnTheWire() async throws {
        try await TestGateway.run { _, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=t")
            let publisher = try await TestPublisher.connect(port: port)
            try await publisher.publish([("topic", "t"), ("id", "1"), ("data", "")])
            try await publisher.publish([("topic", "t"), ("id", "2"), ("data", "a\rb\r\nc\nd")])
            try await publisher.publish([("topic", "t"), ("id", "3"), ("data", "\n\n")])
            try await publisher.publish([
                ("topic", "t"), ("id", "4"), ("data", "héllo ✓ 日本"), ("type", "greet"), ("retry", "1500"),
            ])
            try await subscriber.waitForEvents(4)
            let expected =
                ":\n" + "id: 1\ndata: \n\n" + "id: 2\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
                + "id: 3\ndata: \ndata: \ndata: \n\n" + "event: greet\nretry: 1500\nid: 4\ndata: héllo ✓ 日本\n\n"
            #expect(try await subscriber.body() == expected)
        }
    }

    @Test func selectorsExactTemplateWildcardAndAlternateTopics() async throws {
        try await TestGateway.run { _, port in
            let exact = try await TestSubscriber.open(port: port, query: "topic=https%3A%2F%2Fexample.com%2Fbooks%2F1")
            let template = try await TestSubscriber.open(
                port: port,
                query: "topic=https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D"
            )
            let wildcard = try await TestSubscriber.open(port: port, query: "topic=*")
            let several = try await TestSubscriber.open(port: port, query: "topic=nothing&topic=alt")
            let publisher = try await TestPublisher.connect(port: port)
            try await publisher.publish([("topic", "https://example.com/books/1"), ("id", "e1")])
            try await publisher.publish([("topic", "https://example.com/books/2"), ("id", "e2")])
            try await publisher.publish([("topic", "https://example.com/other"), ("topic", "alt"), ("id", "e3")])
            try await wildcard.waitForEvents(3)
            try await several.waitForEvents(1)
            try await template.waitForEvents(2)
            try await exact.waitForEvents(1)
            // A final event on every stream proves nothing else is still in flight.
            try await publisher.publish([
                ("topic", "https://example.com/books/1"), ("topic", "alt"), ("topic", "https://example.com/books/9"),
                ("id", "end"),
            ])
            try await wildcard.waitForEvents(4)
            try await several.waitForEvents(2)
            try await template.waitForEvents(3)
            try await exact.waitForEvents(2)
            #expect(try await exact.ids() == ["e1", "end"])
            #expect(try await template.ids() == ["e1", "e2", "end"])
            #expect(try await wildcard.ids() == ["e1", "e2", "e3", "end"])
            #expect(try await several.ids() == ["e3", "end"])
        }
    }

    @Test func privateUpdatesNeedMatchingClaims() async throws {
        let claims = FixedClaimsMiddleware(subscribe: ["https://example.com/users/{id}"])
        try await TestGateway.run(middleware: [claims]) { _, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=*")
            let publisher = try await TestPublisher.connect(port: port)
            try await publisher.publish([("topic", "https://example.com/books/1"), ("private", "on"), ("id", "hidden")])
            try await publisher.publish([("topic", "https://example.com/users/7"), ("private", ""), ("id", "mine")])
            try await publisher.publish([("topic", "https://example.com/books/1"), ("id", "public")])
            try await subscriber.waitForEvents(2)
            #expect(try await subscriber.ids() == ["mine", "public"])
        }
        try await TestGateway.run { _, port in
            let anonymous = try await TestSubscriber.open(port: port, query: "topic=*")
            let publisher = try await TestPublisher.connect(port: port)
            try await publisher.publish([("topic", "https://example.com/users/7"), ("private", "1"), ("id", "mine")])
            try await publisher.publish([("topic", "https://example.com/users/7"), ("id", "public")])
            try await anonymous.waitForEvents(1)
            #expect(try await anonymous.ids() == ["public"])
        }
    }
}

@Suite("Hub HTTP details over loopback")
struct HubHTTPDetailsTests {
    @Test func headOnTheHubAnswersTheStreamHeadAndKeepsTheConnection() async throws {
        try await TestGateway.run { _, port in
            let client = try await RawClient.connect(port: port)
            try await client.sendRequest("HEAD", "/.well-known/mercure?topic=a")
            try await client.waitFor(text: "\r\n\r\n")
            let head = try await client.text
            #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(head.contains("Content-Type: text/event-stream\r\n"))
            try await client.sendRequest("GET", "/healthz")
            try await client.waitFor(text: "ok\n")
            #expect(try await client.text.contains("HTTP/1.1 200 OK"))
        }
    }

    @Test func publishWithExpectContinueGets100ThenTheID() async throws {
        try await TestGateway.run { _, port in
            let client = try await RawClient.connect(port: port)
            let body = "topic=a&id=x1&data=" + String(repeating: "d", count: 2000)
            try await client.send(
                "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                    + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
            )
            try await client.waitFor(text: "HTTP/1.1 100 Continue\r\n\r\n")
            try await client.send(body)
            try await client.waitFor(text: "x1")
            #expect(try await client.text.contains("HTTP/1.1 200 OK\r\n"))
        }
    }

    @Test func http10SubscriberGetsAnUnchunkedStream() async throws {
        try await TestGateway.run { _, port in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET /.well-known/mercure?topic=a HTTP/1.0\r\nHost: x\r\n\r\n")
            try await client.waitFor(text: "\r\n\r\n:\n")
            let publisher = try await TestPublisher.connect(port: port)
            try await publisher.publish([("topic", "a"), ("id", "p1"), ("data", "hi")])
            try await client.waitFor(text: "id: p1\ndata: hi\n\n")
            let text = try await client.text
            #expect(!text.contains("Transfer-Encoding"))
            #expect(text.hasSuffix("\r\n\r\n:\nid: p1\ndata: hi\n\n"))
        }
    }
}
