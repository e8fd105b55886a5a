import Foundation
import NIOCore
import Testing

@testable import SSEGateway

/// Misbehaving clients over loopback: each abuse is answered with the right status (or cut at its deadline), and
/// the gateway goes on serving everyone else.
@Suite("Abuse: slow heads, floods, oversized and malformed requests, random bytes")
struct AbuseTests {
    // MARK: Slow heads

    @Test func slowlorisConnectionsAreCutAtTheHeadDeadlineWhileOthersAreServed() async throws {
        let configuration = GatewayConfiguration.testing { $0.server.requestHeaderTimeout = .milliseconds(600) }
        try await TestGateway.run(configuration: configuration) { server, port in
            let elapsed = try await Self.slowloris(port: port, connections: 200) {
                // Meanwhile a normal client keeps its latency.
                let normal = try await RawClient.connect(port: port)
                var slowest = Duration.zero
                for _ in 0..<10 {
                    let sent = ContinuousClock.now
                    try await normal.sendRequest("GET", "/healthz")
                    #expect(try await normal.readResponse().status == 200)
                    slowest = max(slowest, ContinuousClock.now - sent)
                }
                #expect(slowest < .milliseconds(100), "a normal request took \(slowest) among 200 slow heads")
            }
            #expect(elapsed < .milliseconds(600 + 900), "every slow head was cut within \(elapsed)")
            try await Self.eventually { server.openConnectionCount <= 1 }
            #expect(server.openConnectionCount <= 1, "only the normal client's connection is left")
        }
    }

    /// Opens `connections` whose heads never complete (a header line every 100 ms), runs `meanwhile`, and waits for
    /// every one of them to get `408` and be closed; returns how long that took from the first trickled line.
    static func slowloris(
        port: Int,
        connections: Int,
        meanwhile: () async throws -> Void = {}
    ) async throws -> Duration {
        var slow: [RawClient] = []
        for _ in 0..<connections {
            let client = try await RawClient.connect(port: port)
            try await client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n")
            slow.append(client)
        }
        let started = ContinuousClock.now
        let trickle = Task { [slow] in
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(100))
                for client in slow { try? await client.send("X-Slow: 1\r\n") }
            }
        }
        defer { trickle.cancel() }
        try await meanwhile()
        for client in slow {
            let response = try await client.readResponse(timeout: .seconds(5))
            #expect(response.status == 408)
            try await client.waitForClose()
        }
        return ContinuousClock.now - started
    }

    // MARK: Header and request-line floods

    @Test func tooManyHeaderFieldsAre431() async throws {
        try await TestGateway.run { _, port in
            let client = try await RawClient.connect(port: port)
            try await client.sendRequest("GET", "/healthz", headers: (0..<150).map { "X-H\($0): v" })
            let response = try await client.readResponse()
            #expect(response.status == 431)
            #expect(response.body.contains("header fields"))
            try await client.waitForClose()
        }
    }

    @Test func aHeaderSectionOverTheLimitIs431WhetherTheDecoderOrThePolicyCatchesIt() async throws {
        try await TestGateway.run { _, port in
            // 90 fields of 100 bytes: within the field count, over maxHeaderBytes (8 KiB).
            let many = try await RawClient.connect(port: port)
            try await many.sendRequest(
                "GET", "/healthz", headers: (0..<90).map { "X-\($0): " + String(repeating: "v", count: 92) })
            let response = try await many.readResponse()
            #expect(response.status == 431)
            #expect(response.body.contains("header section"))
            try await many.waitForClose()
            // One value far beyond every limit: cut by the decoder before it is buffered.
            let huge = try await RawClient.connect(port: port)
            try await huge.sendRequest(
                "GET", "/healthz", headers: ["X-Huge: " + String(repeating: "h", count: 64 * 1024)])
            #expect(try await huge.readResponse().status == 431)
            try await huge.waitForClose()
        }
    }

    @Test func aLongRequestLineIs414() async throws {
        try await TestGateway.run { _, port in
            let long = try await RawClient.connect(port: port)
            try await long.sendRequest("GET", "/.well-known/mercure?topic=" + String(repeating: "t", count: 9000))
            let response = try await long.readResponse()
            #expect(response.status == 414)
            #expect(response.body.contains("8192"))
            try await long.waitForClose()
            // Far beyond: the decoder's bound (request line and header limits together) cuts it with 431.
            let flood = try await RawClient.connect(port: port)
            try await flood.sendRequest("GET", "/?" + String(repeating: "q", count: 100 * 1024))
            #expect(try await flood.readResponse().status == 431)
            try await flood.waitForClose()
        }
    }

    @Test func aFloodOfOversizedHeadsLeavesTheServerServing() async throws {
        try await TestGateway.run { server, port in
            try await Self.oversizedHeads(port: port, connections: 100)
            let normal = try await RawClient.connect(port: port)
            try await normal.sendRequest("GET", "/healthz")
            #expect(try await normal.readResponse().status == 200)
            try await Self.eventually { server.openConnectionCount <= 1 }
            #expect(server.openConnectionCount <= 1)
        }
    }

    /// Sends a 32 KiB header on each of `connections` at once, and checks that each gets `431` and is closed.
    static func oversizedHeads(port: Int, connections: Int) async throws {
        let junk = "GET /healthz HTTP/1.1\r\nX-Junk: " + String(repeating: "j", count: 32 * 1024) + "\r\n\r\n"
        let clients = try await (0..<connections).asyncMap { _ in try await RawClient.connect(port: port) }
        for client in clients { try await client.send(junk) }
        for client in clients {
            #expect(try await client.readResponse().status == 431)
            try await client.waitForClose()
        }
    }

    // MARK: Connection floods

    @Test func connectionsBeyondTheServerLimitGet503AndEverythingIsReleased() async throws {
        let configuration = GatewayConfiguration.testing {
            $0.server.maxConnections = 50
            $0.server.retryAfter = .seconds(4)
        }
        try await TestGateway.run(configuration: configuration) { server, port in
            let subscribers = try await (0..<20).asyncMap { _ in
                try await TestSubscriber.open(port: port, query: "topic=flood")
            }
            let clients = try await (0..<40).asyncMap { _ in try await RawClient.connect(port: port) }
            var statuses: [Int] = []
            for client in clients {
                try await client.sendRequest("GET", "/healthz")
                let response = try await client.readResponse()
                statuses.append(response.status)
                if response.status == 503 { #expect(response.header("retry-after") == "4") }
            }
            #expect(statuses.filter { $0 == 200 }.count == 30)
            #expect(statuses.filter { $0 == 503 }.count == 10)
            for subscriber in subscribers { try await subscriber.client.close() }
            // The refused ones are closed already.
            for client in clients { try? await client.close() }
            try await Self.eventually { server.openConnectionCount == 0 }
            #expect(server.openConnectionCount == 0)
            #expect(server.renderMetrics().contains("sse_sessions_active 0"))
            // Released: a full house again.
            let again = try await (0..<50).asyncMap { _ in try await RawClient.connect(port: port) }
            for client in again {
                try await client.sendRequest("GET", "/healthz")
                #expect(try await client.readResponse().status == 200)
            }
        }
    }

    @Test func connectionsBeyondThePerAddressLimitGet429AndAreReleased() async throws {
        let configuration = GatewayConfiguration.testing {
            $0.server.maxConnectionsPerAddress = 5
            $0.server.retryAfter = .seconds(2)
        }
        try await TestGateway.run(configuration: configuration) { server, port in
            let subscribers = try await (0..<5).asyncMap { _ in
                try await TestSubscriber.open(port: port, query: "topic=mine")
            }
            let sixth = try await RawClient.connect(port: port)
            try await sixth.sendRequest("GET", "/.well-known/mercure?topic=mine")
            let refused = try await sixth.readResponse()
            #expect(refused.status == 429)
            #expect(refused.header("retry-after") == "2")
            try await sixth.waitForClose()
            for subscriber in subscribers { try await subscriber.client.close() }
            try await Self.eventually { server.openConnectionCount == 0 }
            #expect(server.context.connections.addressCount == 0, "no address is left counted")
            #expect(server.renderMetrics().contains("sse_sessions_active 0"))
            let afterwards = try await TestSubscriber.open(port: port, query: "topic=mine")
            #expect(try await afterwards.head().hasPrefix("HTTP/1.1 200"))
        }
    }

    // MARK: Bodies

    @Test func aChunkedBodyOverTheLimitIs413AndIsNotPublished() async throws {
        try await TestGateway.run(configuration: .testing { $0.hub.maxBodyBytes = 16 * 1024 }) { _, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=big")
            let client = try await RawClient.connect(port: port)
            var request = "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n"
            request += "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
            request += "f\r\ntopic=big&data=\r\n"
            for _ in 0..<40 { request += "400\r\n" + String(repeating: "d", count: 1024) + "\r\n" }
            request += "0\r\n\r\n"
            try? await client.send(request)
            let response = try await client.readResponse()
            #expect(response.status == 413)
            try await client.waitForClose()
            let marker = try await TestPublisher.connect(port: port)
            #expect(try await marker.publish([("topic", "big"), ("id", "urn:test:marker")]).status == 200)
            try await subscriber.waitForEvents(1)
            #expect(try await subscriber.ids() == ["urn:test:marker"])
        }
    }

    @Test func aContentLengthOverTheLimitIsRefusedBeforeTheBody() async throws {
        try await TestGateway.run(configuration: .testing { $0.hub.maxBodyBytes = 1024 }) { _, port in
            let client = try await RawClient.connect(port: port)
            var head = "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n"
            head += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1048576\r\n\r\n"
            try await client.send(head)
            let response = try await client.readResponse()
            #expect(response.status == 413)
            #expect(response.body.contains("1024"))
            try await client.waitForClose()
        }
    }

    @Test(arguments: [
        "zz\r\ntopic=a\r\n0\r\n\r\n",  // not a chunk size
        "7\r\ntopic=aXX0\r\n\r\n",  // no CRLF after the chunk
        "fffffffffffffffffffff\r\n",  // a size that overflows
    ])
    func malformedChunkedFramingIs400AndCloses(body: String) async throws {
        try await TestGateway.run { _, port in
            let client = try await RawClient.connect(port: port)
            var request = "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n"
            request += "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
            try await client.send(request + body)
            let response = try await client.readResponse()
            #expect(response.status == 400 || response.status == 413)
            try await client.waitForClose()
        }
    }

    @Test func contentLengthWithChunkedIs400() async throws {
        try await TestGateway.run { _, port in
            let client = try await RawClient.connect(port: port)
            var request = "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            request += "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
            try await client.send(request + "5\r\ntopic\r\n0\r\n\r\n")
            #expect(try await client.readResponse().status == 400)
            try await client.waitForClose()
        }
    }

    // MARK: Random bytes

    @Test func aThousandRandomRequestsLeaveTheGatewayServingAndDelivering() async throws {
        let configuration = GatewayConfiguration.testing {
            $0.server.requestHeaderTimeout = .milliseconds(500)
            $0.server.requestBodyTimeout = .milliseconds(500)
        }
        try await TestGateway.run(configuration: configuration) { server, port in
            try await Self.randomRequests(port: port, count: 1000, seed: 0x5EED_CAFE)
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=after")
            let publisher = try await TestPublisher.connect(port: port)
            #expect(try await publisher.publish([("topic", "after"), ("id", "urn:test:after")]).status == 200)
            try await subscriber.waitForEvents(1)
            #expect(try await subscriber.ids().last == "urn:test:after")
            try await Self.eventually { server.openConnectionCount <= 2 }
            #expect(server.openConnectionCount <= 2, "only the subscriber and the publisher are left")
        }
    }

    /// Sends `count` seeded random requests, 100 connections at a time, each followed by a FIN, and checks that the
    /// gateway closes every connection (after answering what it could).
    static func randomRequests(port: Int, count: Int, seed: UInt64) async throws {
        var random = SeededRandom(seed: seed)
        for batch in stride(from: 0, to: count, by: 100) {
            let clients = try await (batch..<min(count, batch + 100)).asyncMap { _ in
                try await RawClient.connect(port: port)
            }
            for client in clients {
                try? await client.send(bytes: RandomRequest.make(using: &random))
                // Nothing more comes: the gateway answers what it can, and closes after the FIN.
                try? await client.channel.close(mode: .output)
            }
            for (index, client) in clients.enumerated() {
                do {
                    try await client.waitForClose(timeout: .seconds(5))
                } catch {
                    Issue.record("random request \(batch + index) (seed \(seed)) left its connection open: \(error)")
                }
            }
        }
    }

    /// Polls a count that has no event to await, up to a deadline.
    static func eventually(within limit: Duration = .seconds(5), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + limit
        while !condition(), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

extension Sequence {
    /// Maps in order, awaiting each element (for opening connections one after another).
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

/// The same abuse against the real binary, whose memory can be read from outside.
@Suite("Abuse: the process's memory afterwards")
struct AbuseMemoryTests {
    @Test(.timeLimit(.minutes(3)))
    func residentMemoryAfterTheAbuseStaysWithin50MiBOfBefore() async throws {
        let (gateway, port) = try await GatewayProcess.serve(
            config: """
                {"server": {"host": "127.0.0.1", "port": 0, "threads": 2,
                            "requestHeaderTimeout": "500ms", "requestBodyTimeout": "500ms"},
                 "hub": {"maxBodyBytes": "64KiB"},
                 "logging": {"level": "info"}}
                """
        )
        let pid = gateway.child.processIdentifier
        // Warm up what a normal workload allocates once: pools, loops, metrics.
        let subscriber = try await TestSubscriber.open(port: port, query: "topic=warm")
        let publisher = try await TestPublisher.connect(port: port)
        for index in 0..<200 {
            #expect(try await publisher.publish([("topic", "warm"), ("id", "urn:warm:\(index)")]).status == 200)
        }
        try await subscriber.waitForEvents(200)
        let before = try Self.residentKiB(of: pid)

        for _ in 0..<3 {
            _ = try await AbuseTests.slowloris(port: port, connections: 200)
            try await AbuseTests.oversizedHeads(port: port, connections: 200)
            try await AbuseTests.randomRequests(port: port, count: 1000, seed: 0xAB05E)
        }
        let after = try Self.residentKiB(of: pid)
        #expect(after - before < 50 * 1024, "RSS grew from \(before) KiB to \(after) KiB")

        #expect(try await publisher.publish([("topic", "warm"), ("id", "urn:warm:after")]).status == 200)
        try await subscriber.waitForEvents(201)
        gateway.signal(SIGTERM)
        #expect(try await gateway.waitForExit() == 0)
    }

    /// `VmRSS` of a process, from `/proc`.
    static func residentKiB(of pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
    }
}
