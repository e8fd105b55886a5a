import Foundation
import NIOCore
import Testing

/// Self-signed certificates made with the `openssl` command for the TLS tests, in a folder of their own.
struct TestCertificates {
    let folder: URL

    init() throws {
        self.folder = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.folder, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { self.folder.appendingPathComponent(name).path }

    /// Makes `name.crt` and `name.key`: a P-256 certificate for `localhost` and 127.0.0.1 whose subject is
    /// `CN=name`, so that a client's report of the certificate it got tells which one the server used.
    @discardableResult
    func make(_ name: String) async throws -> (certificate: String, key: String) {
        let (certificate, key) = (self.path("\(name).crt"), self.path("\(name).key"))
        let openssl = try Self.executable("openssl")
        let result = try await ChildProcess.run(
            executable: openssl,
            arguments: [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", "/CN=\(name)", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout", key, "-out", certificate,
            ],
            timeout: .seconds(20))
        try #require(result.status == 0, "openssl failed: \(result.standardError)")
        return (certificate, key)
    }

    func remove() {
        try? FileManager.default.removeItem(at: self.folder)
    }

    /// A program from the `PATH`, or a failed requirement naming it.
    static func executable(_ name: String) throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let found = path.split(separator: ":").map { "\($0)/\(name)" }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        return URL(fileURLWithPath: try #require(found, "\(name) is not installed"))
    }
}

/// `curl` as a client of the tests: every run bounded, its output and status returned.
enum Curl {
    /// Runs curl with `arguments` (after `-sS`), at most `timeout`.
    static func run(_ arguments: [String], timeout: TimeAmount = .seconds(20)) async throws -> ChildProcess.Output {
        try await ChildProcess.run(
            executable: try TestCertificates.executable("curl"), arguments: ["-sS"] + arguments, timeout: timeout)
    }

    /// Starts a curl that keeps reading (an event stream); the caller awaits its output and ends it.
    static func start(_ arguments: [String]) throws -> ChildProcess {
        try ChildProcess(
            executable: try TestCertificates.executable("curl"), arguments: ["-sS", "--no-buffer"] + arguments)
    }
}
