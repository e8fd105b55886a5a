import Foundation
import NIOCore
import Testing

/// A `sse-gateway serve` child process whose standard error is watched line by line, with every wait bounded (see
/// ``ChildProcess``).
final class GatewayProcess: Sendable {
    let child: ChildProcess

    /// The `sse-gateway` binary: `SSE_GATEWAY_BINARY` runs these tests against another build (e.g.
    /// `.build/release/sse-gateway`); by default the one built beside the test bundle.
    static var executable: URL {
        if let binary = ProcessInfo.processInfo.environment["SSE_GATEWAY_BINARY"] {
            return URL(fileURLWithPath: binary)
        }
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        if directory.lastPathComponent != "debug" && directory.lastPathComponent != "release" {
            // Inside a test bundle (`….xctest/Contents/MacOS/`): up to the products directory.
            directory = directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        }
        return directory.appendingPathComponent("sse-gateway")
    }

    /// Starts the binary with `arguments`.
    init(arguments: [String]) throws {
        self.child = try ChildProcess(executable: try Self.checkedExecutable(), arguments: arguments)
    }

    /// The binary, or a failed requirement naming where it was looked for.
    static func checkedExecutable() throws -> URL {
        let executable = Self.executable
        try #require(
            FileManager.default.isExecutableFile(atPath: executable.path),
            "sse-gateway not built at \(executable.path)"
        )
        return executable
    }

    /// Runs the binary to completion (at most `timeout`) and returns its status and output.
    static func run(
        _ arguments: [String],
        timeout: TimeAmount = .seconds(30)
    ) async throws -> (status: Int32, output: String, error: String) {
        let result = try await ChildProcess.run(
            executable: try Self.checkedExecutable(), arguments: arguments, timeout: timeout)
        return (result.status!, result.standardOutput, result.standardError)
    }

    /// Waits until standard error contains `needle`, at most `timeout`; returns everything written to it so far.
    @discardableResult
    func waitForOutput(_ needle: String, timeout: TimeAmount = .seconds(15)) async throws -> String {
        try await self.child.waitFor("\(needle.debugDescription) on standard error", timeout: timeout) {
            $0.standardError.contains(needle)
        }.standardError
    }

    /// Everything written to standard error so far.
    var output: String { self.child.output.standardError }

    func signal(_ signal: Int32) {
        self.child.signal(signal)
    }

    /// Waits until the process has exited, at most `timeout`; returns its status.
    func waitForExit(timeout: TimeAmount = .seconds(30)) async throws -> Int32 {
        try await self.child.waitForExit(timeout: timeout)
    }

    /// Starts `sse-gateway serve` on a configuration written from `json`, and returns once it listens; the file is
    /// removed by then, since the process has read it. `enableTestPlugins` passes `--enable-test-plugins`, which a
    /// configuration naming `shutdown-probe` needs.
    static func serve(
        config json: String,
        enableTestPlugins: Bool = false
    ) async throws -> (gateway: GatewayProcess, port: Int) {
        let path = try writeConfig(json)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let gateway = try GatewayProcess(
            arguments: ["serve", "--config", path] + (enableTestPlugins ? ["--enable-test-plugins"] : []))
        return (gateway, try await gateway.port())
    }

    /// The port of the `listening` line, once the whole line has arrived.
    func port(timeout: TimeAmount = .seconds(15)) async throws -> Int {
        let output = try await self.child.waitFor("a complete \"listening\" line", timeout: timeout) { output in
            Self.listeningLine(in: output.standardError) != nil
        }
        let line = try #require(Self.listeningLine(in: output.standardError))
        let match = try #require(line.firstMatch(of: /127\.0\.0\.1:([0-9]+)/))
        return try #require(Int(match.output.1))
    }

    /// The first complete line that reports the listening address.
    private static func listeningLine(in text: String) -> Substring? {
        text.split(separator: "\n").dropLast(text.hasSuffix("\n") ? 0 : 1).first { $0.contains("listening") }
    }
}
