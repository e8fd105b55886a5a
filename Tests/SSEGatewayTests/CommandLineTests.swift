import Foundation
import Testing

/// Runs the built `sse-gateway` binary, which sits beside the test bundle.
private func runGateway(_ arguments: [String]) async throws -> (status: Int32, output: String, error: String) {
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var directory = testBinary.deletingLastPathComponent()
    if directory.lastPathComponent == "debug" || directory.lastPathComponent == "release" {
        // already the products directory
    } else {
        directory = directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
    let executable = directory.appendingPathComponent("sse-gateway")
    try #require(
        FileManager.default.isExecutableFile(atPath: executable.path),
        "sse-gateway not built at \(executable.path)"
    )
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
        do { try process.run() } catch { continuation.resume(throwing: error) }
    }
    return (
        status,
        String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
        String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    )
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
        let check = try await runGateway(["check-config", path])
        #expect(check.status == 0)
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
        let check = try await runGateway(["check-config", path])
        #expect(check.status == 1)
        #expect(
            check.error.contains("middleware[0].handlers[1]: a shutdown handler named \"flush\" is already registered"))
        let serve = try await runGateway(["serve", "--config", path])
        #expect(serve.status == 1)
    }

    @Test func missingConfigFileIsAnError() async throws {
        let result = try await runGateway(["check-config", "/nonexistent/config.json"])
        #expect(result.status == 1)
        #expect(result.error.contains("cannot read config file"))
    }
}

/// A `sse-gateway serve` child process whose standard error is watched line by line.
final class GatewayProcess: @unchecked Sendable {
    // @unchecked: `text`, `waiters`, `status` and `exitWaiters` are guarded by `lock`.
    private let process = Process()
    private let lock = NSLock()
    private var text = ""
    private var waiters: [(String, CheckedContinuation<String, Never>)] = []
    private var status: Int32?
    private var exitWaiters: [CheckedContinuation<Int32, Never>] = []

    init(arguments: [String]) throws {
        // SSE_GATEWAY_BINARY runs these tests against another build, e.g. `.build/release/sse-gateway`.
        if let binary = ProcessInfo.processInfo.environment["SSE_GATEWAY_BINARY"] {
            self.process.executableURL = URL(fileURLWithPath: binary)
        } else {
            let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            self.process.executableURL = testBinary.deletingLastPathComponent().appendingPathComponent("sse-gateway")
        }
        self.process.arguments = arguments
        let error = Pipe()
        self.process.standardError = error
        self.process.standardOutput = FileHandle.nullDevice
        error.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.append(String(decoding: data, as: UTF8.self))
        }
        // A termination handler rather than `waitUntilExit`, which can hang inside the test runner.
        self.process.terminationHandler = { [weak self] process in
            guard let self else { return }
            self.lock.lock()
            self.status = process.terminationStatus
            let waiters = self.exitWaiters
            self.exitWaiters = []
            self.lock.unlock()
            for waiter in waiters { waiter.resume(returning: process.terminationStatus) }
        }
        try self.process.run()
    }

    private func append(_ chunk: String) {
        self.lock.lock()
        self.text += chunk
        let ready = self.waiters.filter { self.text.contains($0.0) }
        self.waiters.removeAll { self.text.contains($0.0) }
        let text = self.text
        self.lock.unlock()
        for (_, continuation) in ready { continuation.resume(returning: text) }
    }

    /// Waits until standard error contains `needle`; returns everything written so far.
    func waitForOutput(_ needle: String) async -> String {
        await withCheckedContinuation { continuation in
            self.lock.lock()
            if self.text.contains(needle) {
                let text = self.text
                self.lock.unlock()
                continuation.resume(returning: text)
            } else {
                self.waiters.append((needle, continuation))
                self.lock.unlock()
            }
        }
    }

    /// Everything written to standard error so far.
    var output: String {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.text
    }

    func signal(_ signal: Int32) {
        kill(self.process.processIdentifier, signal)
    }

    func waitForExit() async -> Int32 {
        await withCheckedContinuation { continuation in
            self.lock.lock()
            if let status = self.status {
                self.lock.unlock()
                continuation.resume(returning: status)
            } else {
                self.exitWaiters.append(continuation)
                self.lock.unlock()
            }
        }
    }

    /// Starts `sse-gateway serve` on a configuration written from `json`, and returns once it listens; the file is
    /// removed by then, since the process has read it.
    static func serve(config json: String) async throws -> (gateway: GatewayProcess, port: Int) {
        let path = try writeConfig(json)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let gateway = try GatewayProcess(arguments: ["serve", "--config", path])
        return (gateway, try await gateway.port())
    }

    /// The port of the `listening` line.
    func port() async throws -> Int {
        let output = await self.waitForOutput("listening")
        let match = try #require(try Regex("127\\.0\\.0\\.1:([0-9]+)").firstMatch(in: output))
        return try #require(match.output[1].substring.flatMap { Int($0) })
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
        #expect(await gateway.waitForExit() == 0)
        #expect(await gateway.waitForOutput("stopped").contains("graceful shutdown"))
    }
}
