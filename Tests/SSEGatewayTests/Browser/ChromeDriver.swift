import Foundation
import NIOPosix

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

    let process = Process()
    /// The driver's port on 127.0.0.1.
    let port: Int

    init() async throws {
        // The driver reports its port only on a terminal, so pick a free port first and pass it on.
        let port = try await Self.freePort()
        self.process.executableURL = URL(fileURLWithPath: Self.driverPath)
        self.process.arguments = ["--port=\(port)"]
        self.process.standardOutput = FileHandle.nullDevice
        self.process.standardError = FileHandle.nullDevice
        try self.process.run()
        self.port = port
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, self.process.isRunning {
            let status = try? await WebDriverSession.call(port: port, "/status", method: "GET", body: nil)
            if let value = status?["value"] as? [String: Any], value["ready"] as? Bool == true {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        await self.stop()
        throw WebDriverSession.Failure(description: "chromedriver did not become ready on port \(port)")
    }

    private static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        return port
    }

    /// Kills the driver (and with it the browser) and waits until it is gone. SIGKILL, because children of the test
    /// runner inherit its blocked signals and may ignore SIGTERM; the wait uses the termination handler, since
    /// `waitUntilExit` can hang inside the test runner.
    func stop() async {
        let exited = AsyncStream<Void> { continuation in
            self.process.terminationHandler = { _ in continuation.finish() }
            if !self.process.isRunning { continuation.finish() }
        }
        if self.process.isRunning { kill(self.process.processIdentifier, SIGKILL) }
        for await _ in exited {}
    }
}
