import Foundation

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
    let endpoint: URL

    init() async throws {
        self.process.executableURL = URL(fileURLWithPath: Self.driverPath)
        self.process.arguments = ["--port=0"]
        let output = Pipe()
        self.process.standardOutput = output
        self.process.standardError = FileHandle.nullDevice
        try self.process.run()
        // The driver prints "ChromeDriver was started successfully on port N." once it listens.
        var text = ""
        let handle = output.fileHandleForReading
        while !text.contains("successfully on port") || !text.contains(".\n") {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let range = text.range(of: "on port "),
            let port = Int(text[range.upperBound...].prefix(while: \.isNumber))
        else {
            self.process.terminate()
            throw WebDriverSession.Failure(description: "chromedriver did not start: \(text)")
        }
        self.endpoint = URL(string: "http://127.0.0.1:\(port)")!
    }

    func stop() {
        self.process.terminate()
        self.process.waitUntilExit()
    }
}
