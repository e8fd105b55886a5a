import Testing

@testable import SSEGateway

@Suite("request-logger middleware")
struct RequestLoggerTests {
    @Test func recordsEachStreamsDurationWhenItCloses() async throws {
        let configuration = GatewayConfiguration.testing {
            $0.middleware = [
                MiddlewareEntry(use: "request-logger", settings: ["use": "request-logger", "level": "debug"])
            ]
        }
        let recorder = ListenerRecorder()
        try await TestGateway.run(middleware: [recorder], configuration: configuration) { server, port in
            #expect(server.renderMetrics().contains("sse_stream_duration_seconds_count 0"))
            for _ in 0..<3 {
                let subscriber = try await TestSubscriber.open(port: port, query: "topic=t")
                let session = try await recorder.nextSession()
                try await subscriber.client.close()
                _ = try await session.closeFuture.get()
            }
            #expect(server.renderMetrics().contains("sse_stream_duration_seconds_count 3"))
        }
    }

    @Test func badLevelNamesItsPath() throws {
        let configuration = try GatewayConfiguration(
            jsonString: #"{"middleware": [{"use": "request-logger", "level": "loud"}]}"#)
        #expect(
            throws: ConfigError(
                path: "middleware[0].level",
                message: "expected one of trace, debug, info, notice, warning, error, critical, got \"loud\"")
        ) {
            _ = try GatewayServer.check(configuration: configuration, registry: .plugins)
        }
    }
}
