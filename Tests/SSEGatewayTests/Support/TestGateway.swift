import BuiltInMiddleware
import Foundation
import Logging
import NIOCore
import ShutdownProbe

@testable import SSEGateway

/// Runs a real gateway on 127.0.0.1 with an OS-chosen port for the duration of `body`.
///
/// A configuration that leaves the `shutdown` section at its defaults gets a shutdown without grace or drain (the
/// notice is still sent), so ending a test does not wait the 15 seconds a deployment would.
enum TestGateway {
    static func run<T>(
        middleware: [any Middleware] = [],
        registry: MiddlewareRegistry = .plugins,
        configuration: GatewayConfiguration = .testing(),
        eventStore: (any EventStore)? = nil,
        streams: StreamHandlerRegistry = StreamHandlerRegistry(),
        logger: Logger? = nil,
        _ body: (GatewayServer, Int) async throws -> T
    ) async throws -> T {
        var configuration = configuration
        if configuration.shutdown == GatewayConfiguration.Shutdown() {
            configuration.shutdown.readinessGrace = .zero
            configuration.shutdown.drainTimeout = .zero
        }
        let logger =
            logger
            ?? {
                var logger = Logger(label: "test-gateway")
                logger.logLevel = .critical
                return logger
            }()
        let server = try GatewayServer(
            configuration: configuration, registry: registry, streams: streams, middleware: middleware,
            eventStore: eventStore, logger: logger)
        try await server.start()
        let port = server.localAddress!.port!
        do {
            let result = try await body(server, port)
            await server.shutdown()
            return result
        } catch {
            await server.shutdown()
            throw error
        }
    }
}

extension MiddlewareRegistry {
    /// The built-in plugins, as the `sse-gateway` command registers them, and the test suite's own `shutdown-probe`,
    /// as `--enable-test-plugins` adds it.
    static var plugins: MiddlewareRegistry {
        var registry = MiddlewareRegistry.builtIn
        registry.register(ShutdownProbeMiddleware.self)
        return registry
    }
}

extension GatewayConfiguration {
    /// Defaults for live tests: loopback, a free port, two event loops; `modify` adjusts the rest.
    static func testing(_ modify: (inout GatewayConfiguration) -> Void = { _ in }) -> GatewayConfiguration {
        var configuration = GatewayConfiguration()
        configuration.server.host = "127.0.0.1"
        configuration.server.port = 0
        configuration.server.threads = 2
        modify(&configuration)
        return configuration
    }
}

/// A subscriber on a raw socket, reading the chunked event stream.
struct TestSubscriber {
    let client: RawClient

    static func open(
        port: Int,
        query: String,
        headers: [String] = [],
        receiveBuffer: Int? = nil
    ) async throws -> TestSubscriber {
        let client = try await RawClient.connect(port: port, receiveBuffer: receiveBuffer)
        try await client.sendRequest("GET", "/.well-known/mercure?\(query)", headers: headers)
        if receiveBuffer == nil {
            try await client.waitFor("the stream's opening comment") { bytes, _ in
                guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { return false }
                return ChunkedBody.decodePartial(bytes[end.upperBound...]).starts(with: Array(":\n".utf8))
            }
        }
        return TestSubscriber(client: client)
    }

    /// The decoded stream body received so far.
    func body() async throws -> String {
        let bytes = try await self.client.received
        guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { return "" }
        return String(decoding: ChunkedBody.decodePartial(bytes[end.upperBound...]), as: UTF8.self)
    }

    func head() async throws -> String {
        let bytes = try await self.client.received
        guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { return "" }
        return String(decoding: bytes[..<(end.lowerBound + 2)], as: UTF8.self)
    }

    /// Waits until the decoded body holds `count` events (blank-line terminated, comments excluded).
    @discardableResult
    func waitForEvents(_ count: Int, timeout: TimeAmount = .seconds(5)) async throws -> [String] {
        try await self.client.waitFor("\(count) events", timeout: timeout) { bytes, _ in
            guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { return false }
            let body = String(decoding: ChunkedBody.decodePartial(bytes[end.upperBound...]), as: UTF8.self)
            return Self.events(in: body).count >= count
        }
        return Self.events(in: try await self.body())
    }

    /// Splits a stream body into event blocks, dropping comment-only blocks.
    static func events(in body: String) -> [String] {
        body.components(separatedBy: "\n\n").filter { block in
            !block.isEmpty && block.split(separator: "\n").contains { !$0.hasPrefix(":") }
        }.map { $0.split(separator: "\n").filter { !$0.hasPrefix(":") }.joined(separator: "\n") }
    }

    /// The value of the first `name:` line of an event block from ``events(in:)``.
    static func field(_ name: String, of event: String) -> String? {
        event.split(separator: "\n").first { $0.hasPrefix("\(name): ") }.map { String($0.dropFirst(name.count + 2)) }
    }

    /// The `id:` of each event received so far.
    func ids() async throws -> [String] {
        Self.events(in: try await self.body()).compactMap { Self.field("id", of: $0) }
    }
}

/// Publishes with a form POST over its own keep-alive connection.
struct TestPublisher {
    let client: RawClient

    static func connect(port: Int) async throws -> TestPublisher {
        TestPublisher(client: try await RawClient.connect(port: port))
    }

    @discardableResult
    func publish(_ fields: [(String, String)], headers: [String] = []) async throws -> HTTPTestResponse {
        let body = fields.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        try await self.client.sendRequest(
            "POST",
            "/.well-known/mercure",
            headers: ["Content-Type: application/x-www-form-urlencoded"] + headers,
            body: body
        )
        return try await self.client.readResponse()
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed)!
    }
}
