import Logging
import NIOCore

@testable import SSEGateway

extension Session {
    /// A session for a `GET` on one topic, for fixtures that drive a stream handler without a server.
    static func testing(topic: String, eventLoop: any EventLoop, metrics: GatewayMetrics) -> Session {
        Self.testing(topics: [topic], eventLoop: eventLoop, metrics: metrics)
    }

    /// A session subscribed to each of `topics`.
    static func testing(topics: [String], eventLoop: any EventLoop, metrics: GatewayMetrics) -> Session {
        Session(
            id: EventID.generate(),
            request: RequestFacts(
                method: .GET,
                uri: "/.well-known/mercure?" + topics.map { "topic=\($0)" }.joined(separator: "&"),
                path: "/.well-known/mercure",
                query: topics.map { ("topic", $0) },
                headers: [:],
                remoteAddress: nil,
                version: .http1_1
            ),
            topics: topics.map { TopicSelector($0) },
            lastEventID: nil,
            eventLoop: eventLoop,
            environment: SessionEnvironment(
                logger: Logger(label: "test"),
                metrics: metrics,
                closeListenerTimeout: .seconds(1)
            )
        )
    }
}
