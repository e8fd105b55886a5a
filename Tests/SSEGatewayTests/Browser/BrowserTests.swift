import Foundation
import JWTKit
import NIOCore
import Testing

@testable import SSEGateway

/// The product's real-browser test: headless Chromium, driven over WebDriver, subscribes from a page on another
/// loopback origin, authenticated only by the `mercureAuthorization` cookie, under CORS.
@Suite("browser: EventSource in Chromium", .serialized)
struct BrowserTests {
    static let secret = "browser-test-secret-that-is-long-enough-for-hs256"
    static let topic = "https://example.com/books/1"

    static let page = """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>subscriber</title></head><body>
        <script>
        window.state = {opens: 0, errors: 0, events: []};
        window.start = function (url) {
          const source = new EventSource(url, {withCredentials: true});
          source.onopen = () => { window.state.opens += 1; };
          source.onerror = () => { window.state.errors += 1; };
          source.onmessage = (event) => { window.state.events.push({id: event.lastEventId, data: event.data}); };
        };
        </script>
        </body></html>
        """

    @Test(
        .enabled(
            if: ChromeDriver.isInstalled || ChromeDriver.isRequired,
            "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver); required in CI"
        ),
        .timeLimit(.minutes(1))
    )
    func cookieAuthenticatedCrossOriginStreamSurvivesTheGatewayEndingIt() async throws {
        try #require(ChromeDriver.isInstalled, "chromium and chromium-driver are not installed")
        let pageServer = try await StaticPageServer(html: Self.page)
        let pageOrigin = "http://127.0.0.1:\(pageServer.port)"
        let configuration = try GatewayConfiguration.testing(json: Self.gatewayConfig(pageOrigin: pageOrigin))
        let recorder = ListenerRecorder()
        let driver = try await ChromeDriver()
        let browser: WebDriverSession
        do {
            browser = try await WebDriverSession.start(port: driver.port)
        } catch {
            await driver.stop()
            throw error
        }
        do {
            try await TestGateway.run(middleware: [recorder], configuration: configuration) { _, port in
                let publisher = try await TestPublisher.connect(port: port)
                let publisherToken = try await Self.token(publish: ["*"], subscribe: [])
                func publish(_ id: String, _ data: String) async throws {
                    let response = try await publisher.publish(
                        [("topic", Self.topic), ("id", id), ("data", data), ("private", "on")],
                        headers: ["Authorization: Bearer \(publisherToken)"]
                    )
                    #expect(response.status == 200, "publish \(id): \(response.body)")
                }

                try await browser.navigate(to: pageOrigin + "/")
                try await browser.addCookie(
                    name: "mercureAuthorization",
                    value: try await Self.token(publish: [], subscribe: [Self.topic])
                )
                let url = "http://127.0.0.1:\(port)/.well-known/mercure?topic=\(Self.topic)"
                _ = try await browser.execute("window.start(\(Self.jsString(url)));")
                try await browser.waitUntil("window.state.opens === 1")
                let first = try await recorder.nextSession()
                // The page's origin is not the gateway's: only the cookie authenticated it, and CORS let it read.
                #expect(first.request.headers.first(name: "origin") == pageOrigin)
                #expect(first.request.headers.first(name: "authorization") == nil)
                #expect(first.claims != nil)

                try await publish("1", "first")
                try await publish("2", "second")
                try await browser.waitUntil("window.state.events.length === 2")

                // The timeout middleware ends the stream; the event published while the browser is away must
                // reach it on reconnection through Last-Event-ID.
                #expect(try await first.closeFuture.get() == .timeout)
                try await publish("3", "while away")
                try await browser.waitUntil("window.state.opens === 2")
                let second = try await recorder.nextSession()
                #expect(second.lastEventID == "2")
                try await publish("4", "after return")
                try await browser.waitUntil("window.state.events.length >= 4")

                let events = try await browser.execute("return window.state.events;") as? [[String: String]] ?? []
                #expect(events.map { $0["id"] ?? "" } == ["1", "2", "3", "4"])
                #expect(events.map { $0["data"] ?? "" } == ["first", "second", "while away", "after return"])
            }
        } catch {
            await browser.quit()
            await driver.stop()
            try? await pageServer.stop()
            throw error
        }
        await browser.quit()
        await driver.stop()
        try await pageServer.stop()
    }

    static func gatewayConfig(pageOrigin: String) -> String {
        """
        {"middleware": [
            {"use": "cors", "origins": ["\(pageOrigin)"], "credentials": true},
            {"use": "auth",
             "publisher": {"algorithm": "HS256", "key": "\(Self.secret)"},
             "subscriber": {"algorithm": "HS256", "key": "\(Self.secret)"}},
            {"use": "timeout", "maxLifetime": "2s", "lastEvent": {"retry": 1000}}
        ]}
        """
    }

    static func jsString(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    struct MercureClaim: Codable, Sendable {
        var publish: [String]
        var subscribe: [String]
    }

    struct Payload: JWTPayload {
        var mercure: MercureClaim
        var exp: ExpirationClaim

        func verify(using algorithm: some JWTAlgorithm) throws {}
    }

    static func token(publish: [String], subscribe: [String], secret: String = Self.secret) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(
            Payload(
                mercure: MercureClaim(publish: publish, subscribe: subscribe),
                exp: ExpirationClaim(value: Date().addingTimeInterval(3600))
            )
        )
    }
}

extension GatewayConfiguration {
    /// A configuration read from JSON, then pointed at loopback and a free port like ``testing(_:)``.
    static func testing(json: String) throws -> GatewayConfiguration {
        var configuration = try GatewayConfiguration(jsonString: json)
        configuration.server.host = "127.0.0.1"
        configuration.server.port = 0
        configuration.server.threads = 2
        return configuration
    }
}
