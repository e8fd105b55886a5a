import Testing

@testable import SSEGateway

@Suite("Publishing through the store, over loopback", .timeLimit(.minutes(1)))
struct StoreLiveTests {
    @Test func aRetriedPublishIsAnsweredAgainAndDeliveredOnceAndAnotherUnderItsIdIsRefused() async throws {
        try await TestGateway.run { server, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=retry")
            let publisher = try await TestPublisher.connect(port: port)
            let fields = [("topic", "retry"), ("id", "urn:test:once"), ("data", "hello")]
            let first = try await publisher.publish(fields)
            #expect(first.status == 200)
            #expect(first.body == "urn:test:once")
            let retried = try await publisher.publish(fields)
            #expect(retried.status == 200, "a publisher that lost the answer may retry")
            #expect(retried.body == "urn:test:once")
            let other = try await publisher.publish([("topic", "retry"), ("id", "urn:test:once"), ("data", "bye")])
            #expect(other.status == 409)
            #expect(other.body.contains("already retained with other content"))
            #expect(try await publisher.publish([("topic", "retry"), ("id", "urn:test:marker")]).status == 200)
            try await subscriber.waitForEvents(2)
            #expect(try await subscriber.ids() == ["urn:test:once", "urn:test:marker"])
            #expect(server.hub.historyCount == 2)
        }
    }

    @Test func aFailingStoreAnswers503WhileStreamsStayOpenAndRecovers() async throws {
        let store = InstrumentedStore()
        let configuration = GatewayConfiguration.testing { $0.server.retryAfter = .seconds(3) }
        try await TestGateway.run(configuration: configuration, eventStore: store) { _, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=down")
            let publisher = try await TestPublisher.connect(port: port)
            store.fail(with: EventStoreError("disk full"))
            let refused = try await publisher.publish([("topic", "down"), ("id", "urn:test:lost")])
            #expect(refused.status == 503)
            #expect(refused.header("retry-after") == "3")
            #expect(refused.body.contains("disk full"))
            store.fail(with: nil)
            let accepted = try await publisher.publish([("topic", "down"), ("id", "urn:test:kept")])
            #expect(accepted.status == 200)
            try await subscriber.waitForEvents(1)
            #expect(
                try await subscriber.ids() == ["urn:test:kept"], "the stream stayed open; the refused one never came")
        }
    }

    @Test func theHubAPIPublishesThroughTheStore() async throws {
        try await TestGateway.run { server, port in
            let subscriber = try await TestSubscriber.open(port: port, query: "topic=api")
            let id = try await server.hub.publish(PublishRequest(topics: ["api"], data: "x", id: "urn:test:api"))
            #expect(id == "urn:test:api")
            await #expect(throws: PublishError.self) {
                try await server.hub.publish(PublishRequest(topics: ["api"], data: "y", id: "urn:test:api"))
            }
            try await subscriber.waitForEvents(1)
            #expect(try await subscriber.ids() == ["urn:test:api"])
        }
    }
}
