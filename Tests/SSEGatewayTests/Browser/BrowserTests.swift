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

    /// Helpers for the many-streams test, run in a page of the gateway's own origin.
    static let manyStreamsScript = """
        window.sources = [];
        window.opens = 0;
        window.received = [];
        window.start = function (url, count) {
          for (let i = 0; i < count; i++) {
            const source = new EventSource(url);
            window.received.push([]);
            source.onopen = () => { window.opens += 1; };
            source.onmessage = (event) => { window.received[i].push(event.data); };
            window.sources.push(source);
          }
        };
        window.publish = async function (url, data) {
          const body = new URLSearchParams({topic: "tabs", data: data});
          await (await fetch(url, {method: "POST", body: body})).text();
          const entries = performance.getEntriesByName(url);
          return entries.length ? entries[entries.length - 1].nextHopProtocol : "none";
        };
        """

    /// The issue HTTP/2 solves: over HTTP/1.1 a browser opens 6 connections to an origin at most, so only 6
    /// `EventSource`s of a page stream. Over TLS the gateway speaks h2, and 20 streams share one connection.
    @Test(
        .enabled(
            if: ChromeDriver.isInstalled || ChromeDriver.isRequired,
            "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver); required in CI"
        ),
        .timeLimit(.minutes(1))
    )
    func twentyEventSourcesOfOnePageAllStreamOverOneHTTP2Connection() async throws {
        try #require(ChromeDriver.isInstalled, "chromium and chromium-driver are not installed")
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await certificates.make("gateway")
        var configuration = GatewayConfiguration.testing()
        configuration.server.tls = .init(
            certificateFile: certificates.path("gateway.crt"), keyFile: certificates.path("gateway.key"))
        let driver = try await ChromeDriver()
        let browser: WebDriverSession
        do {
            browser = try await WebDriverSession.start(port: driver.port, arguments: ["--ignore-certificate-errors"])
        } catch {
            await driver.stop()
            throw error
        }
        do {
            try await TestGateway.run(configuration: configuration) { server, port in
                let origin = "https://127.0.0.1:\(port)"
                // A page of the gateway's origin (its health answer), so that its timing entries are readable.
                try await browser.navigate(to: origin + "/healthz")
                _ = try await browser.execute(Self.manyStreamsScript)
                let hub = origin + "/.well-known/mercure"
                _ = try await browser.execute("window.start(\(Self.jsString(hub + "?topic=tabs")), 20);")
                try await browser.waitUntil("window.opens === 20")
                #expect(server.renderMetrics().contains("sse_sessions_active 20"))
                // The streams share one connection (the page's navigation may have taken a second one).
                let connections = server.context.http2Connections.count
                #expect((1...2).contains(connections), "\(connections) HTTP/2 connections for 20 streams")

                func publish(_ data: String) async throws -> Any? {
                    try await browser.execute("return window.publish(\(Self.jsString(hub)), \(Self.jsString(data)));")
                }
                #expect(try await publish("to all") as? String == "h2", "the page's own request went over h2")
                try await browser.waitUntil("window.received.every((events) => events.length === 1)")

                // Closing one of them ends that session alone; the others keep receiving.
                _ = try await browser.execute("window.sources[0].close();")
                try await AbuseTests.eventually { server.renderMetrics().contains("sse_sessions_active 19") }
                #expect(server.renderMetrics().contains("sse_sessions_active 19"))
                _ = try await publish("to the rest")
                try await browser.waitUntil("window.received.slice(1).every((events) => events.length === 2)")
                let first = try await browser.execute("return window.received[0].length;") as? Int
                #expect(first == 1, "the closed EventSource got nothing more")
                #expect(server.renderMetrics().contains(#"sse_sessions_closed_total{reason="client_disconnected"} 1"#))
            }
            // The same page over plain HTTP/1.1: six connections, six streams; the rest wait.
            try await TestGateway.run(configuration: .testing()) { server, port in
                let origin = "http://127.0.0.1:\(port)"
                try await browser.navigate(to: origin + "/healthz")
                _ = try await browser.execute(Self.manyStreamsScript)
                _ = try await browser.execute(
                    "window.start(\(Self.jsString(origin + "/.well-known/mercure?topic=tabs")), 20);")
                try await browser.waitUntil("window.opens === 6")
                // Nothing to await for streams that never open: look again after a while.
                try await Task.sleep(for: .milliseconds(500))
                #expect(try await browser.execute("return window.opens;") as? Int == 6)
                #expect(server.renderMetrics().contains("sse_sessions_active 6"))
                try await browser.navigate(to: "about:blank")
            }
        } catch {
            await browser.quit()
            await driver.stop()
            throw error
        }
        await browser.quit()
        await driver.stop()
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
