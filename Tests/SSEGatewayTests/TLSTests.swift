import Foundation
import NIOCore
import Testing

@testable import SSEGateway

/// HTTPS on the listener, over loopback with certificates made for the test and `curl` as the client.
@Suite("TLS", .serialized, .timeLimit(.minutes(2)))
struct TLSTests {
    static func configuration(
        _ certificates: TestCertificates,
        name: String = "gateway",
        modify: (inout GatewayConfiguration.Server.TLS) -> Void = { _ in }
    ) -> GatewayConfiguration {
        .testing { configuration in
            var tls = GatewayConfiguration.Server.TLS(
                certificateFile: certificates.path("\(name).crt"), keyFile: certificates.path("\(name).key"))
            modify(&tls)
            configuration.server.tls = tls
        }
    }

    static func hub(_ port: Int, _ query: String = "") -> String {
        "https://127.0.0.1:\(port)/.well-known/mercure\(query)"
    }

    /// The subject a new connection's certificate shows, as `curl -v` reports it.
    static func subject(port: Int) async throws -> String? {
        let result = try await Curl.run(["-vk", "--http1.1", "-o", "/dev/null", "https://127.0.0.1:\(port)/healthz"])
        return result.standardError.split(separator: "\n").first { $0.contains("subject:") }
            .map { String($0.split(separator: "subject:").last!).trimmingCharacters(in: .whitespaces) }
    }

    @Test func curlSubscribesPublishesAndReplaysOverHTTPS() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await certificates.make("gateway")
        try await TestGateway.run(configuration: Self.configuration(certificates)) { server, port in
            let stream = try Curl.start(["-k", "--http1.1", Self.hub(port, "?topic=news")])
            try await stream.waitFor("the stream to open", timeout: .seconds(10)) { $0.standardOutput.hasPrefix(":") }
            for n in 1...2 {
                let publish = try await Curl.run([
                    "-k", "--http1.1", "-d", "topic=news", "-d", "id=n\(n)", "-d", "data=hello \(n)",
                    "-w", "\n%{http_code} %{http_version}", Self.hub(port),
                ])
                #expect(publish.standardOutput == "n\(n)\n200 1.1", "\(publish.standardOutput)")
            }
            try await stream.waitFor("both events", timeout: .seconds(10)) {
                $0.standardOutput.contains("id: n2\ndata: hello 2\n\n")
            }
            #expect(stream.output.standardOutput.contains("id: n1\ndata: hello 1\n\n"))

            let replay = try Curl.start(["-k", "--http1.1", "-H", "Last-Event-ID: n1", Self.hub(port, "?topic=news")])
            try await replay.waitFor("the replay", timeout: .seconds(10)) { $0.standardOutput.contains("id: n2\n") }
            #expect(!replay.output.standardOutput.contains("id: n1\n"))
            #expect(server.renderMetrics().contains("sse_sessions_active 2"))

            // A client that goes away over TLS ends its session, as over plain TCP.
            replay.signal(SIGKILL)
            stream.signal(SIGKILL)
            // The closed count follows the active gauge's decrement: wait for the count.
            let closed = #"sse_sessions_closed_total{reason="client_disconnected"} 2"#
            try await AbuseTests.eventually { server.renderMetrics().contains(closed) }
            #expect(server.renderMetrics().contains(closed))
            #expect(server.renderMetrics().contains("sse_sessions_active 0"))
        }
    }

    @Test func aRenewedCertificateServesNewConnectionsWhileOpenStreamsGoOn() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await certificates.make("gateway")
        try await certificates.make("renewed")
        let log = LogRecorder()
        let configuration = Self.configuration(certificates) { $0.reloadCheckInterval = .milliseconds(100) }
        try await TestGateway.run(configuration: configuration, logger: log.logger()) { server, port in
            #expect(try await Self.subject(port: port) == "CN=gateway")
            let stream = try Curl.start(["-k", "--http1.1", Self.hub(port, "?topic=news")])
            try await stream.waitFor("the stream to open", timeout: .seconds(10)) { $0.standardOutput.hasPrefix(":") }

            // A renewal writes new files and renames them into place: the next check picks them up.
            let skipping = log.recorded.count
            for suffix in ["key", "crt"] {
                let staged = certificates.path("staged.\(suffix)")
                try FileManager.default.copyItem(atPath: certificates.path("renewed.\(suffix)"), toPath: staged)
                #expect(rename(staged, certificates.path("gateway.\(suffix)")) == 0)
            }
            try await log.waitFor("TLS certificate reloaded", skipping: skipping)
            #expect(try await Self.subject(port: port) == "CN=renewed")

            // The stream opened before the reload still gets events.
            let publish = try await Curl.run(["-k", "-d", "topic=news", "-d", "data=after", Self.hub(port)])
            #expect(!publish.standardOutput.isEmpty)
            try await stream.waitFor("an event after the reload", timeout: .seconds(10)) {
                $0.standardOutput.contains("data: after\n")
            }

            // Broken files are refused, logged, and the certificate in use stays.
            try Data("not a certificate".utf8).write(to: URL(fileURLWithPath: certificates.path("gateway.crt")))
            #expect(server.reloadTLSCertificates(trigger: "test") == false)
            let refusal = try await log.waitFor("TLS certificate not reloaded")
            #expect("\(refusal.metadata["error"] ?? "")".contains("server.tls.certificateFile: no PEM certificate"))
            #expect(try await Self.subject(port: port) == "CN=renewed")
            stream.signal(SIGKILL)
        }
    }

    @Test func aClientThatNeverCompletesTheHandshakeIsClosedAtTheDeadline() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await certificates.make("gateway")
        let configuration = Self.configuration(certificates) { $0.handshakeTimeout = .milliseconds(300) }
        try await TestGateway.run(configuration: configuration) { server, port in
            let started = ContinuousClock.now
            let client = try await RawClient.connect(port: port)
            _ = try await client.waitForClose(timeout: .seconds(5))
            let after = started.duration(to: .now)
            #expect(after >= .milliseconds(250) && after < .seconds(3), "closed after \(after)")
            #expect(server.openConnectionCount == 0)
        }
    }

    @Test func filesThatCannotBeUsedAreConfigErrorsNamingTheirKey() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await certificates.make("gateway")
        try await certificates.make("other")
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: certificates.path("garbage.crt")))
        let cases: [(certificate: String, key: String, message: String)] = [
            (
                "missing.crt", "gateway.key",
                "server.tls.certificateFile: cannot read \(certificates.path("missing.crt")): no such file"
            ),
            (
                "gateway.crt", "missing.key",
                "server.tls.keyFile: cannot read \(certificates.path("missing.key")): no such file"
            ),
            ("garbage.crt", "gateway.key", "server.tls.certificateFile: no PEM certificate in"),
            ("gateway.crt", "garbage.crt", "server.tls.keyFile: no PEM private key in"),
            (
                "gateway.crt", "other.key",
                "server.tls.keyFile: the key in \(certificates.path("other.key")) does not match"
            ),
        ]
        for (certificate, key, message) in cases {
            var configuration = GatewayConfiguration.testing()
            configuration.server.tls = .init(
                certificateFile: certificates.path(certificate), keyFile: certificates.path(key))
            let error = try #require(throws: ConfigError.self) { try GatewayServer(configuration: configuration) }
            #expect("\(error)".hasPrefix(message), "\(error)")
            let checked = try #require(throws: ConfigError.self) {
                try GatewayServer.check(configuration: configuration, registry: .builtIn)
            }
            #expect(checked == error)
        }
    }

    @Test(
        arguments: [
            (#"{"server": {"tls": {"certificateFile": "a.crt"}}}"#, "server.tls.keyFile: required key is missing"),
            (#"{"server": {"tls": {"certificateFile": "", "keyFile": "k"}}}"#, "server.tls.certificateFile: must name"),
            (
                #"{"server": {"tls": {"certificateFile": "a", "keyFile": "k", "handshakeTimeout": "0s"}}}"#,
                "server.tls.handshakeTimeout: must be more than 0s"
            ),
            (#"{"server": {"tls": {"certificateFile": "a", "keyFile": "k", "h2": 1}}}"#, "server.tls.h2: unknown key"),
            (
                #"{"server": {"tls": {"certificateFile": "a", "keyFile": "k"}}, "shutdown": {"signals": ["SIGHUP"]}}"#,
                "shutdown.signals: SIGHUP reloads"
            ),
        ]
    )
    func badTLSSettingsAreConfigErrors(json: String, message: String) throws {
        let error = try #require(throws: ConfigError.self) { try GatewayConfiguration(jsonString: json) }
        #expect("\(error)".hasPrefix(message), "\(error)")
    }

    /// The real binary: `check-config` reads the files, and `SIGHUP` reloads them.
    @Test func theCommandChecksTheFilesAndReloadsThemOnSIGHUP() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await certificates.make("gateway")
        let config = certificates.path("config.json")
        func write(_ certificate: String) throws {
            try Data(
                """
                {"server": {"host": "127.0.0.1", "port": 0, "threads": 1,
                            "tls": {"certificateFile": "\(certificate)", "keyFile": "gateway.key"}},
                 "hub": {"store": {"type": "memory"}}, "shutdown": {"readinessGrace": "0s", "drainTimeout": "0s"}}
                """.utf8
            ).write(to: URL(fileURLWithPath: config))
        }
        try write("nothing.crt")
        let refused = try await GatewayProcess.run(["check-config", config])
        #expect(refused.status == 1)
        #expect(refused.error.contains("server.tls.certificateFile: cannot read \(certificates.path("nothing.crt"))"))

        try write("gateway.crt")
        let gateway = try GatewayProcess(arguments: ["serve", "--config", config])
        let port = try await gateway.port()
        #expect(try await Self.subject(port: port) == "CN=gateway")
        try await certificates.make("gateway")
        gateway.signal(SIGHUP)
        let log = try await gateway.waitForOutput("TLS certificate reloaded")
        #expect(log.contains("trigger=SIGHUP"))
        #expect(try await Self.subject(port: port) == "CN=gateway")
        gateway.signal(SIGTERM)
        #expect(try await gateway.waitForExit() == 0)
    }
}
