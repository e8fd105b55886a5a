import NIOCore
import Testing

@testable import SSEGateway

@Suite("HTTP server: routes and limits over loopback")
struct ServerLimitsTests {
    @Test func healthReadinessAndMetricsAnswer() async throws {
        try await TestGateway.run { _, port in
            let client = try await RawClient.connect(port: port)
            try await client.sendRequest("GET", "/healthz")
            let health = try await client.readResponse()
            #expect(health.status == 200)
            #expect(health.body == "ok\n")
            try await client.sendRequest("GET", "/readyz")
            #expect(try await client.readResponse().status == 200)
            try await client.sendRequest("GET", "/metrics")
            let metrics = try await client.readResponse()
            #expect(metrics.status == 200)
            #expect(metrics.header("content-type")?.hasPrefix("text/plain") == true)
            #expect(metrics.body.contains("sse_sessions_active"))
            #expect(metrics.body.contains("sse_events_published_total"))
            #expect(metrics.body.contains("sse_http_requests_total{status=\"200\"}"))
        }
    }

    /// Requests larger than `server.readBufferBytes` take several reads: a stream with a 2 KB cookie opens, and a
    /// publish with a body ten times the buffer is delivered whole.
    @Test func requestsLargerThanTheReadBufferAreServed() async throws {
        let configuration = GatewayConfiguration.testing { $0.server.readBufferBytes = 64 }
        try await TestGateway.run(configuration: configuration) { _, port in
            let cookie = "Cookie: c=" + String(repeating: "x", count: 2000)
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=big", headers: [cookie])
            let data = String(repeating: "d", count: 640)
            let publisher = try await TestPublisher.connect(port: port)
            #expect(try await publisher.publish([("topic", "big"), ("data", data)]).status == 200)
            let events = try await subscriber.waitForEvents(1)
            #expect(events.first?.contains("data: \(data)") == true)
        }
    }

    @Test func unknownPathIs404AndKeepsTheConnection() async throws {
        try await TestGateway.run { _, port in
            let client = try await RawClient.connect(port: port)
            try await client.sendRequest("GET", "/nope")
            let response = try await client.readResponse()
            #expect(response.status == 404)
            #expect(response.body.contains("/nope"))
            try await client.sendRequest("GET", "/healthz")
            #expect(try await client.readResponse().status == 200)
        }
    }

    @Test func wrongMethodIs405WithAllow() async throws {
        try await TestGateway.run { _, port in
            let client = try await RawClient.connect(port: port)
            try await client.sendRequest("DELETE", "/.well-known/mercure")
            let response = try await client.readResponse()
            #expect(response.status == 405)
            #expect(response.header("allow") == "GET, HEAD, POST")
            try await client.sendRequest("POST", "/healthz", body: "x")
            let second = try await client.readResponse()
            #expect(second.status == 405)
            #expect(second.header("allow") == "GET, HEAD")
        }
    }

    @Test func oversizedHeadersAre431() async throws {
        try await TestGateway.run(configuration: .testing { $0.server.maxHeaderBytes = 2048 }) { _, port in
            let client = try await RawClient.connect(port: port)
            let big = String(repeating: "a", count: 4096)
            try await client.sendRequest("GET", "/healthz", headers: ["X-Big: \(big)"])
            let response = try await client.readResponse()
            #expect(response.status == 431)
            try await client.waitForClose()
        }
    }

    @Test func oversizedPublishBodyIs413() async throws {
        try await TestGateway.run(configuration: .testing { $0.hub.maxBodyBytes = 1024 }) { _, port in
            let byLength = try await RawClient.connect(port: port)
            let body = "topic=a&data=" + String(repeating: "x", count: 2000)
            try await byLength.sendRequest(
                "POST",
                "/.well-known/mercure",
                headers: ["Content-Type: application/x-www-form-urlencoded"],
                body: body
            )
            #expect(try await byLength.readResponse().status == 413)

            let chunked = try await RawClient.connect(port: port)
            var request = "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n"
            request += "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
            request += String(2000, radix: 16) + "\r\n" + String(repeating: "y", count: 2000) + "\r\n0\r\n\r\n"
            try await chunked.send(request)
            #expect(try await chunked.readResponse().status == 413)
            try await chunked.waitForClose()
        }
    }

    @Test func connectionsBeyondTheLimitGet503WithRetryAfter() async throws {
        try await TestGateway.run(
            configuration: .testing {
                $0.server.maxConnections = 2
                $0.server.retryAfter = .seconds(7)
            }
        ) { _, port in
            let first = try await TestSubscriber.open(port: port, query: "topic=a")
            let second = try await RawClient.connect(port: port)
            try await second.sendRequest("GET", "/healthz")
            #expect(try await second.readResponse().status == 200)
            let third = try await RawClient.connect(port: port)
            try await third.sendRequest("GET", "/healthz")
            let refused = try await third.readResponse()
            #expect(refused.status == 503)
            #expect(refused.header("retry-after") == "7")
            try await third.waitForClose()
            _ = first
        }
    }

    @Test func slowRequestHeadersGet408AndClose() async throws {
        try await TestGateway.run(configuration: .testing { $0.server.requestHeaderTimeout = .milliseconds(200) }) {
            _, port in
            // Connect and send nothing: the head never completes. (A partial head is covered on an embedded clock.)
            let client = try await RawClient.connect(port: port)
            let response = try await client.readResponse()
            #expect(response.status == 408)
            try await client.waitForClose()
        }
    }

    @Test func idleKeepAliveConnectionIsClosed() async throws {
        try await TestGateway.run(configuration: .testing { $0.server.keepAliveTimeout = .milliseconds(200) }) {
            _, port in
            let client = try await RawClient.connect(port: port)
            try await client.sendRequest("GET", "/healthz")
            #expect(try await client.readResponse().status == 200)
            try await client.waitForClose()
            #expect(try await client.received.isEmpty)
        }
    }
}
