import Foundation
import Testing

/// Runs the built `sse-gateway` binary to completion, within a bound.
private func runGateway(_ arguments: [String]) async throws -> (status: Int32, output: String, error: String) {
    try await GatewayProcess.run(arguments)
}

func writeConfig(_ json: String) throws -> String {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("sse-gateway-test-\(UUID().uuidString).json").path
    try json.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Suite("sse-gateway command line")
struct CommandLineTests {
    @Test func shippedConfigIsValid() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let result = try await runGateway(["check-config", root.appendingPathComponent("config.json").path])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("OK"))
    }

    @Test(
        arguments: [
            (#"{"hub": {"history": {"size": "ten"}}}"#, #"hub.history.size: expected an integer, got "ten""#),
            (
                #"{"sever": {}}"#,
                "sever: unknown key; known keys: hub, logging, middleware, routes, server, shutdown, streams"
            ),
            (#"{"server": {"port": 70000}}"#, "server.port: must be between 0 and 65535"),
            (#"{"server": {"requestHeaderTimeout": 10}}"#, "server.requestHeaderTimeout: expected a duration"),
            (#"{"hub": {"publishAllowedFrom": ["127.0.0.1", "nope"]}}"#, "hub.publishAllowedFrom[1]:"),
            (#"{"logging": {"level": "loud"}}"#, "logging.level:"),
            (#"{"server": {"port": 1,}}"#, "invalid JSON"),
        ]
    )
    func badConfigExitsOneNamingThePath(json: String, message: String) async throws {
        let path = try writeConfig(json)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let check = try await runGateway(["check-config", path])
        #expect(check.status == 1)
        #expect(check.error.contains(message), "stderr was: \(check.error)")
        let serve = try await runGateway(["serve", "--config", path])
        #expect(serve.status == 1)
        #expect(serve.error.contains(message))
    }

    @Test func checkConfigReportsShutdownHandlersAndBudgets() async throws {
        let path = try writeConfig(
            #"""
            {"middleware": [{"use": "shutdown-probe", "handlers": [{"name": "flush"}]}],
             "shutdown": {"readinessGrace": "1s", "drainTimeout": "1s", "hardDeadline": "5s",
                          "handlers": {"flush": "2s", "ghost": "2s"}}}
            """#
        )
        defer { try? FileManager.default.removeItem(atPath: path) }
        let check = try await runGateway(["check-config", "--enable-test-plugins", path])
        #expect(check.status == 0, "\(check.error)")
        #expect(check.output.contains("warning: shutdown.handlers.ghost: no shutdown handler is registered"))
        #expect(!check.output.contains("shutdown.handlers.flush"))
        #expect(check.output.contains("exceed hardDeadline"))
    }

    @Test func duplicateShutdownHandlerNameIsAStartupError() async throws {
        let path = try writeConfig(
            #"""
            {"middleware": [{"use": "shutdown-probe", "handlers": [{"name": "flush"}, {"name": "flush"}]}]}
            """#
        )
        defer { try? FileManager.default.removeItem(atPath: path) }
        let check = try await runGateway(["check-config", "--enable-test-plugins", path])
        #expect(check.status == 1)
        #expect(
            check.error.contains("middleware[0].handlers[1]: a shutdown handler named \"flush\" is already registered"))
        let serve = try await runGateway(["serve", "--enable-test-plugins", "--config", path])
        #expect(serve.status == 1)
        #expect(serve.error.contains("a shutdown handler named \"flush\" is already registered"), "\(serve.error)")
    }

    /// `shutdown-probe` exists for the test suite: a deployment that names it by mistake is told it is unknown.
    @Test func theTestPluginIsUnknownWithoutTheOptIn() async throws {
        let path = try writeConfig(#"{"middleware": [{"use": "shutdown-probe"}]}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let message =
            "middleware[0].use: unknown middleware \"shutdown-probe\"; known middleware: auth, compression, cors, "
            + "heartbeat, request-logger, timeout"
        let check = try await runGateway(["check-config", path])
        #expect(check.status == 1)
        #expect(check.error.contains(message), "stderr was: \(check.error)")
        let serve = try await runGateway(["serve", "--config", path])
        #expect(serve.status == 1)
        #expect(serve.error.contains(message), "stderr was: \(serve.error)")
        let optedIn = try await runGateway(["check-config", "--enable-test-plugins", path])
        #expect(optedIn.status == 0, "stderr was: \(optedIn.error)")
    }

    @Test(arguments: ["serve", "check-config"])
    func theOptInIsHiddenFromHelp(subcommand: String) async throws {
        let help = try await runGateway([subcommand, "--help"])
        #expect(help.status == 0)
        #expect(!help.output.contains("enable-test-plugins"), "\(help.output)")
        let hidden = try await runGateway([subcommand, "--help-hidden"])
        #expect(hidden.output.contains("--enable-test-plugins"), "\(hidden.output)")
        #expect(hidden.output.contains("For the test suite only"))
    }

    @Test func missingConfigFileIsAnError() async throws {
        let result = try await runGateway(["check-config", "/nonexistent/config.json"])
        #expect(result.status == 1)
        #expect(result.error.contains("cannot read config file"))
    }
}

@Suite("sse-gateway serve as a process")
struct ServeProcessTests {
    @Test(arguments: [SIGTERM, SIGINT])
    func signalStopsCleanlyAndEndsStreams(signal: Int32) async throws {
        let (gateway, port) = try await GatewayProcess.serve(
            config: #"""
                {"server": {"host": "127.0.0.1", "port": 0, "threads": 1},
                 "shutdown": {"readinessGrace": "100ms", "drainTimeout": "100ms"}}
                """#
        )
        let subscriber = try await TestSubscriber.open(port: port, query: "topic=a")
        gateway.signal(signal)
        let received = try await subscriber.client.waitForClose()
        #expect(received.hasSuffix("0\r\n\r\n"))
        #expect(try await gateway.waitForExit() == 0)
        #expect(try await gateway.waitForOutput("stopped").contains("graceful shutdown"))
    }
}
