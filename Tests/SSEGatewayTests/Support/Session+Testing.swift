import Logging
import NIOCore

@testable import SSEGateway

extension Session {
    /// A session for a `GET` on one topic, for fixtures that drive a stream handler without a server.
    static func testing(topic: String, eventLoop: any EventLoop, metrics: GatewayMetrics) -> Session {
        Session(
            id: EventID.generate(),
            request: RequestFacts(
                method: .GET,
                uri: "/.well-known/mercure?topic=\(topic)",
                path: "/.well-known/mercure",
                query: [("topic", topic)],
                headers: [:],
                remoteAddress: nil,
                version: .http1_1
            ),
            topics: [TopicSelector(topic)],
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
