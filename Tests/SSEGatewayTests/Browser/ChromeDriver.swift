import Foundation
import NIOPosix
import Testing

/// Debian's `chromedriver`, started on a free port for the duration of a test.
final class ChromeDriver {
    static let driverPath = "/usr/bin/chromedriver"
    static let browserPath = "/usr/bin/chromium"

    /// Whether the browser and its driver are installed (`apt-get install chromium chromium-driver`).
    static var isInstalled: Bool {
        FileManager.default.isExecutableFile(atPath: driverPath)
            && FileManager.default.isExecutableFile(atPath: browserPath)
    }

    /// CI must run the browser test: a missing browser fails there instead of skipping.
    static var isRequired: Bool {
        ProcessInfo.processInfo.environment["CI"] != nil
    }

    let child: ChildProcess
    /// The driver's port on 127.0.0.1.
    let port: Int

    init() async throws {
        // The driver reports its port only on a terminal, so pick a free port first and pass it on.
        let port = try await Self.freePort()
        self.child = try ChildProcess(executable: URL(fileURLWithPath: Self.driverPath), arguments: ["--port=\(port)"])
        self.port = port
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, self.child.isRunning {
            let status = try? await WebDriverSession.call(port: port, "/status", method: "GET", body: nil)
            if let value = status?["value"] as? [String: Any], value["ready"] as? Bool == true {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let gone = await self.child.killAndWait()
        throw WebDriverSession.Failure(
            description: ChildProcess.describe(
                "chromedriver did not become ready on port \(port) within 10 s; killed it (SIGKILL)"
                    + (gone ? "" : ", and it was still not reaped after 5 s"),
                command: self.child.command,
                output: self.child.output
            )
        )
    }

    private static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        return port
    }

    /// Kills the driver (and with it the browser) and waits, within a bound, until it is gone. SIGKILL, because
    /// children of the test runner inherit its blocked signals and may ignore SIGTERM.
    func stop() async {
        if !(await self.child.killAndWait()) {
            Issue.record(
                Comment(
                    rawValue: ChildProcess.describe(
                        "chromedriver was still not reaped 5 s after SIGKILL",
                        command: self.child.command,
                        output: self.child.output
                    )
                )
            )
        }
    }
}
