import CORS
import Foundation
import NIOCore
import Testing

@testable import SSEGateway

@Suite("cors middleware")
struct CORSTests {
    private static let page = "http://127.0.0.1:5173"

    private func configuration(
        origins: [String] = [Self.page],
        credentials: Bool = true
    ) -> GatewayConfiguration {
        .testing {
            $0.middleware = [
                MiddlewareEntry(
                    use: "cors",
                    settings: [
                        "use": "cors", "origins": .array(origins.map { .string($0) }),
                        "credentials": .bool(credentials),
                    ]
                )
            ]
        }
    }

    private func request(
        port: Int,
        _ method: String,
        _ target: String,
        headers: [String],
        body: String? = nil
    ) async throws -> HTTPTestResponse {
        let client = try await RawClient.connect(port: port)
        try await client.sendRequest(method, target, headers: headers, body: body)
        let response = try await client.readResponse()
        try await client.close()
        return response
    }

    @Test func preflightForPublishFromAnAllowedOriginIsAnswered() async throws {
        try await TestGateway.run(configuration: self.configuration()) { _, port in
            let response = try await self.request(
                port: port,
                "OPTIONS",
                "/.well-known/mercure",
                headers: [
                    "Origin: \(Self.page)",
                    "Access-Control-Request-Method: POST",
                    "Access-Control-Request-Headers: authorization, last-event-id, cache-control",
                ]
            )
            #expect(response.status == 204)
            #expect(response.header("access-control-allow-origin") == Self.page)
            #expect(response.header("access-control-allow-credentials") == "true")
            #expect(response.header("access-control-allow-methods") == "GET, HEAD, POST")
            let allowed = Set(
                (response.header("access-control-allow-headers") ?? "").split(separator: ",").map {
                    $0.trimmingCharacters(in: .whitespaces).lowercased()
                })
            #expect(allowed == ["authorization", "last-event-id", "cache-control"])
            #expect(response.header("access-control-max-age") == "600")
            #expect(response.headers("vary").contains("Origin"))
            #expect(response.header("content-length") == nil)
        }
    }

    @Test func preflightFromAnotherOriginOrForAnotherHeaderIsRefused() async throws {
        try await TestGateway.run(configuration: self.configuration()) { _, port in
            let stranger = try await self.request(
                port: port, "OPTIONS", "/.well-known/mercure",
                headers: ["Origin: https://evil.example", "Access-Control-Request-Method: POST"]
            )
            #expect(stranger.status == 403)
            #expect(stranger.header("access-control-allow-origin") == nil)
            #expect(stranger.body.contains("origin https://evil.example is not allowed"))

            let header = try await self.request(
                port: port, "OPTIONS", "/.well-known/mercure",
                headers: [
                    "Origin: \(Self.page)", "Access-Control-Request-Method: GET",
                    "Access-Control-Request-Headers: x-custom",
                ]
            )
            #expect(header.status == 403)
            #expect(header.body.contains("request header x-custom is not allowed"))

            let method = try await self.request(
                port: port, "OPTIONS", "/.well-known/mercure",
                headers: ["Origin: \(Self.page)", "Access-Control-Request-Method: DELETE"]
            )
            #expect(method.status == 403)
        }
    }

    @Test func optionsThatIsNotAPreflightIsStillMethodNotAllowed() async throws {
        try await TestGateway.run(configuration: self.configuration()) { _, port in
            let response = try await self.request(port: port, "OPTIONS", "/.well-known/mercure", headers: [])
            #expect(response.status == 405)
            #expect(response.header("allow") == "GET, HEAD, POST")
        }
    }

    @Test func credentialedStreamCarriesTheHeadersAndStillDelivers() async throws {
        try await TestGateway.run(configuration: self.configuration()) { _, port in
            let subscriber = try await TestSubscriber.open(
                port: port, query: "topic=t", headers: ["Origin: \(Self.page)", "Cookie: a=b"])
            let head = try await subscriber.head()
            #expect(head.contains("Access-Control-Allow-Origin: \(Self.page)\r\n"))
            #expect(head.contains("Access-Control-Allow-Credentials: true\r\n"))
            #expect(head.contains("Vary: Origin\r\n"))
            let publisher = try await TestPublisher.connect(port: port)
            let published = try await publisher.publish(
                [("topic", "t"), ("data", "hello")], headers: ["Origin: \(Self.page)"])
            #expect(published.status == 200)
            #expect(published.header("access-control-allow-origin") == Self.page)
            let events = try await subscriber.waitForEvents(1)
            #expect(events.first?.contains("data: hello") == true)
        }
    }

    @Test func rejectionsCarryTheHeadersSoThePageCanReadThem() async throws {
        try await TestGateway.run(configuration: self.configuration()) { _, port in
            let response = try await self.request(
                port: port, "GET", "/.well-known/mercure", headers: ["Origin: \(Self.page)"])
            #expect(response.status == 400)
            #expect(response.header("access-control-allow-origin") == Self.page)
        }
    }

    @Test func otherOriginsGetNoAllowHeadersButVary() async throws {
        try await TestGateway.run(configuration: self.configuration()) { _, port in
            let subscriber = try await TestSubscriber.open(
                port: port, query: "topic=t", headers: ["Origin: https://evil.example"])
            let head = try await subscriber.head()
            #expect(!head.contains("Access-Control-Allow-Origin"))
            #expect(head.contains("Vary: Origin\r\n"))
        }
    }

    @Test func wildcardWithoutCredentials() {
        var policy = CORSPolicy()
        policy.origins = ["*"]
        let decision = policy.decide(
            method: "GET", origin: "https://a.example", requestedMethod: nil, requestedHeaders: [])
        #expect(decision == .allow(headers: [("Access-Control-Allow-Origin", "*")]))
        #expect(
            policy.decide(method: "GET", origin: nil, requestedMethod: nil, requestedHeaders: [])
                == .passThrough(headers: []))
    }

    @Test(
        arguments: [
            (
                #"{"middleware": [{"use": "cors", "origins": ["*"], "credentials": true}]}"#,
                "middleware[0].origins: \"*\" cannot be used with \"credentials\": true; browsers refuse it, list the origins"
            ),
            (
                #"{"middleware": [{"use": "cors", "origins": ["https://a.example/path"]}]}"#,
                "middleware[0].origins[0]: must be an origin like \"https://example.com\" (scheme, host, optional port, no path) or \"*\""
            ),
            (
                #"{"middleware": [{"use": "cors", "origin": []}]}"#,
                "middleware[0].origin: unknown key; known keys: allowedHeaders, credentials, maxAge, name, origins, use"
            ),
            (
                #"{"middleware": [{"use": "corz"}]}"#,
                "middleware[0].use: unknown middleware \"corz\"; known middleware: auth, compression, cors, heartbeat, request-logger, shutdown-probe, timeout"
            ),
        ]
    )
    func badSettingsNameTheirPath(json: String, message: String) throws {
        let configuration = try GatewayConfiguration(jsonString: json)
        #expect(throws: ConfigError.self) {
            _ = try GatewayServer.check(configuration: configuration, registry: .plugins)
        }
        do {
            _ = try GatewayServer.check(configuration: configuration, registry: .plugins)
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func noOriginsListedIsAWarning() throws {
        let configuration = try GatewayConfiguration(jsonString: #"{"middleware": [{"use": "cors"}]}"#)
        let warnings = try GatewayServer.check(configuration: configuration, registry: .plugins)
        #expect(warnings == ["cors: no origins listed, so every cross-origin request is refused"])
    }
}
