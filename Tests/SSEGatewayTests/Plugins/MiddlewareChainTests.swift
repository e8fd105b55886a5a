import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Testing

@testable import SSEGateway

/// A configurable test middleware: records the order of its phases and can reject, authorise or transform.
private struct Mark: Middleware {
    let name: String
    let journal: NIOLockedValueBox<[String]>
    var authorises = false
    var rejectsPublish = false
    var shouts = false

    func connect(_ session: Session) async throws {
        self.journal.withLockedValue { $0.append("connect \(self.name)") }
        session.responseHeaders.add(name: "X-Chain", value: self.name)
    }

    func publish(_ publish: PublishContext) async throws {
        self.journal.withLockedValue { $0.append("publish \(self.name)") }
        publish.responseHeaders.add(name: "X-Chain", value: self.name)
        if self.rejectsPublish {
            throw HTTPRejection(.forbidden, reason: "\(self.name) says no", headers: ["X-Reason": "test"])
        }
        if self.authorises { publish.isAuthorized = true }
    }

    func makeStreamFilter(for stream: SessionStream) -> (any StreamFilter)? {
        guard self.shouts else { return nil }
        let loopBound = NIOLoopBound(stream, eventLoop: stream.eventLoop)
        // The stream takes messages once it is open, which is after its filters are made.
        stream.eventLoop.execute { loopBound.value.sendComment("hi") }
        return Shout(stream: stream)
    }
}

/// Decides its publish phase at once (`finishes`), or asks to wait and then runs it; records which path ran.
private struct Quick: Middleware {
    let name: String
    let journal: NIOLockedValueBox<[String]>
    var finishes = true
    var refuses = false

    func publishWithoutSuspending(_ publish: PublishContext) throws -> PhaseProgress {
        self.journal.withLockedValue { $0.append("now \(self.name)") }
        if self.refuses { throw HTTPRejection(.forbidden, reason: "\(self.name) refuses at once") }
        return self.finishes ? .finished : .suspend
    }

    func publish(_ publish: PublishContext) async throws {
        self.journal.withLockedValue { $0.append("wait \(self.name)") }
    }
}

/// Implements only the `async` publish phase, as a middleware written before the immediate one existed.
private struct AsyncOnly: Middleware {
    let name: String
    let journal: NIOLockedValueBox<[String]>

    func publish(_ publish: PublishContext) async throws {
        self.journal.withLockedValue { $0.append("wait \(self.name)") }
    }
}

/// Upper-cases every byte it sees and ends the stream with a trailer comment.
private final class Shout: StreamFilter {
    let stream: SessionStream
    init(stream: SessionStream) { self.stream = stream }
    var transformsBytes: Bool { true }

    func transform(_ message: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        ByteBuffer(string: String(buffer: message).uppercased())
    }

    func finish(allocator: ByteBufferAllocator) -> ByteBuffer? {
        ByteBuffer(string: ": bye\n")
    }
}

@Suite("middleware chain from config")
struct MiddlewareChainTests {
    private let journal = NIOLockedValueBox<[String]>([])

    private func registry(authorises: Bool = false, rejectsPublish: Bool = false) -> MiddlewareRegistry {
        var registry = MiddlewareRegistry.plugins
        let journal = self.journal
        registry.register("mark") { settings, context in
            let shouts = try settings.decode("shout", default: false) { node throws(ConfigError) in try node.bool() }
            return Mark(
                name: context.name, journal: journal, authorises: authorises, rejectsPublish: rejectsPublish,
                shouts: shouts)
        }
        return registry
    }

    private func configuration(_ json: String) throws -> GatewayConfiguration {
        var configuration = try GatewayConfiguration(jsonString: json)
        configuration.server.host = "127.0.0.1"
        configuration.server.port = 0
        configuration.server.threads = 2
        return configuration
    }

    private static let twoMarks = #"""
        {"middleware": [{"use": "mark", "name": "first"}, {"use": "mark", "name": "second"}],
         "routes": [{"path": "/lite", "skip": ["second"]},
                    {"path": "/own", "middleware": [{"use": "mark", "name": "third", "shout": true}]}]}
        """#

    private func open(port: Int, path: String, topic: String = "t") async throws -> RawClient {
        let client = try await RawClient.connect(port: port)
        try await client.sendRequest("GET", "\(path)?topic=\(topic)")
        _ = try await client.waitFor(text: "\r\n\r\n")
        return client
    }

    @Test func connectRunsInConfigOrderAndEachAddsItsHeaders() async throws {
        let configuration = try self.configuration(Self.twoMarks)
        try await TestGateway.run(registry: self.registry(), configuration: configuration) { _, port in
            let client = try await self.open(port: port, path: "/.well-known/mercure")
            let head = try await client.text
            #expect(head.contains("X-Chain: first\r\nX-Chain: second\r\n"))
            #expect(self.journal.withLockedValue { $0 } == ["connect first", "connect second"])
        }
    }

    @Test func routesSkipOrReplaceTheGlobalChainButShareTheHub() async throws {
        let configuration = try self.configuration(Self.twoMarks)
        try await TestGateway.run(registry: self.registry(), configuration: configuration) { _, port in
            let lite = try await self.open(port: port, path: "/lite")
            let own = try await self.open(port: port, path: "/own")
            let liteHead = try await lite.text
            #expect(liteHead.contains("X-Chain: first\r\n"))
            #expect(!liteHead.contains("X-Chain: second"))
            #expect(try await own.text.contains("X-Chain: third\r\n"))

            let publisher = try await TestPublisher.connect(port: port)
            let response = try await publisher.publish([("topic", "t"), ("data", "hello")])
            #expect(response.status == 200)
            #expect(response.headers("x-chain") == ["first", "second"])
            _ = try await lite.waitFor(text: "data: hello\n\n")
            // The replacement chain's filter transforms this route's bytes only.
            _ = try await own.waitFor(text: "DATA: HELLO\n\n")
        }
    }

    @Test func filtersSeeInjectedMessagesAndEndTheStreamWithTheirTrailer() async throws {
        let configuration = try self.configuration(Self.twoMarks)
        let recorder = ListenerRecorder()
        try await TestGateway.run(
            middleware: [recorder], registry: self.registry(), configuration: configuration
        ) { _, port in
            let own = try await self.open(port: port, path: "/own")
            let session = try await recorder.nextSession()
            _ = try await own.waitFor(text: ": HI\n")
            session.close(reason: .timeout)
            let text = try await own.waitForClose()
            // The trailer comes after the last message, from the filter itself.
            #expect(text.contains("6\r\n: bye\n\r\n0\r\n\r\n"))
            #expect(text.hasSuffix("0\r\n\r\n"))
        }
    }

    /// Middleware that decide at once are asked first, in order; from the first that must wait, the rest run in a
    /// task, each still asked first. One that only has the `async` hook always gets it.
    @Test func publishPhasesThatDecideAtOnceSkipTheirAsyncHook() async throws {
        let journal = self.journal
        let chain: [any Middleware] = [
            Quick(name: "a", journal: journal), Quick(name: "b", journal: journal, finishes: false),
            Quick(name: "c", journal: journal), AsyncOnly(name: "d", journal: journal),
        ]
        try await TestGateway.run(middleware: chain) { _, port in
            let publisher = try await TestPublisher.connect(port: port)
            #expect(try await publisher.publish([("topic", "t"), ("data", "x")]).status == 200)
            #expect(journal.withLockedValue { $0 } == ["now a", "now b", "wait b", "now c", "wait d"])
        }
        journal.withLockedValue { $0 = [] }
        let immediate: [any Middleware] = [Quick(name: "a", journal: journal), Quick(name: "c", journal: journal)]
        try await TestGateway.run(middleware: immediate) { _, port in
            let publisher = try await TestPublisher.connect(port: port)
            #expect(try await publisher.publish([("topic", "t"), ("data", "x")]).status == 200)
            #expect(journal.withLockedValue { $0 } == ["now a", "now c"], "no async hook runs")
        }
    }

    @Test func aPublishRefusedAtOnceGetsItsRejectionAndIsNotPublished() async throws {
        let journal = self.journal
        let chain: [any Middleware] = [
            Quick(name: "a", journal: journal, refuses: true), AsyncOnly(name: "d", journal: journal),
        ]
        try await TestGateway.run(middleware: chain) { server, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=t")
            let publisher = try await TestPublisher.connect(port: port)
            let refused = try await publisher.publish([("topic", "t"), ("data", "refused")])
            #expect(refused.status == 403)
            #expect(refused.body.contains("a refuses at once"))
            #expect(journal.withLockedValue { $0 } == ["now a"], "no later phase runs")
            // A publish is answered once committed, so a refused one that had been published would show by now.
            #expect(server.renderMetrics().contains("sse_events_published_total 0"))
            #expect(try await subscriber.ids().isEmpty)
        }
    }

    @Test func publishPhaseRejectsWithItsStatusAndHeaders() async throws {
        let configuration = try self.configuration(Self.twoMarks)
        try await TestGateway.run(registry: self.registry(rejectsPublish: true), configuration: configuration) {
            _, port in
            let publisher = try await TestPublisher.connect(port: port)
            let response = try await publisher.publish([("topic", "t")])
            #expect(response.status == 403)
            #expect(response.body == "first says no\n")
            #expect(response.header("x-reason") == "test")
            #expect(response.headers("x-chain") == ["first"])
            #expect(self.journal.withLockedValue { $0 } == ["publish first"])
        }
    }

    @Test func anAuthorisedPublishNeedsNoAllowedAddress() async throws {
        var configuration = try self.configuration(Self.twoMarks)
        configuration.hub.publishAllowedFrom = []
        try await TestGateway.run(registry: self.registry(authorises: true), configuration: configuration) { _, port in
            let publisher = try await TestPublisher.connect(port: port)
            #expect(try await publisher.publish([("topic", "t")]).status == 200)
        }
        try await TestGateway.run(registry: self.registry(authorises: false), configuration: configuration) {
            _, port in
            let publisher = try await TestPublisher.connect(port: port)
            let response = try await publisher.publish([("topic", "t")])
            #expect(response.status == 403)
            #expect(response.body == "publishing is not allowed from this address\n")
        }
    }

    @Test(
        arguments: [
            (
                #"{"middleware": [{"use": "cors"}, {"use": "cors"}]}"#,
                "middleware[1]: \"cors\" appears twice in this chain; give one a distinct \"name\""
            ),
            (
                #"{"middleware": [{"use": "cors"}], "routes": [{"path": "/x", "skip": ["auth"]}]}"#,
                "routes[0].skip[0]: no middleware named \"auth\" in the global chain; it has: cors"
            ),
            (
                #"{"routes": [{"path": "/metrics"}]}"#,
                "routes[0].path: /metrics is reserved for the gateway's own endpoint"
            ),
            (
                #"{"routes": [{"path": "/x"}, {"path": "/x"}]}"#,
                "routes[1].path: /x is already routed above"
            ),
            (
                #"{"routes": [{"path": "/x", "skip": [], "middleware": []}]}"#,
                "routes[0].skip: use either \"skip\" or \"middleware\" in a route, not both"
            ),
            (
                #"{"middleware": [{"name": "x"}]}"#,
                "middleware[0].use: required key is missing"
            ),
        ]
    )
    func badChainsNameTheirPath(json: String, message: String) {
        do {
            let configuration = try GatewayConfiguration(jsonString: json)
            _ = try GatewayServer.check(configuration: configuration, registry: .plugins)
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.description == message)
        }
    }
}
