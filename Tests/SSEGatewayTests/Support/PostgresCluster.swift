import Foundation
import NIOCore
import Testing

/// A throwaway PostgreSQL server for one test: `initdb` into a temporary folder (as the `postgres` OS user when the
/// tests run as root, which `initdb` refuses), started by `pg_ctl` on a free loopback port, stopped and removed at the
/// end. Every step is bounded.
final class PostgresCluster: Sendable {
    let folder: String
    let port: Int
    private let binaries: String

    /// Debian's server binaries (`apt-get install postgresql`), the newest version installed.
    static let binDirectory: String? = {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return versions.compactMap { Int($0) }.sorted().reversed().map { "\(root)/\($0)/bin" }
            .first { FileManager.default.isExecutableFile(atPath: "\($0)/pg_ctl") }
    }()

    /// CI must run the PostgreSQL tests: a missing server fails there instead of skipping.
    static var isRequired: Bool { ProcessInfo.processInfo.environment["CI"] != nil }

    static var canRun: Bool { Self.binDirectory != nil || Self.isRequired }

    static let skipMessage: Comment =
        "needs Debian's postgresql (apt-get install postgresql); required in CI"

    var url: String { "postgres://postgres@127.0.0.1:\(self.port)/postgres" }

    private init(folder: String, port: Int, binaries: String) {
        self.folder = folder
        self.port = port
        self.binaries = binaries
    }

    /// Runs `body` with a fresh server, which is stopped and removed however `body` ends.
    static func with<T>(_ body: (PostgresCluster) async throws -> T) async throws -> T {
        let cluster = try await Self.start()
        do {
            let result = try await body(cluster)
            await cluster.destroy()
            return result
        } catch {
            await cluster.destroy()
            throw error
        }
    }

    static func start() async throws -> PostgresCluster {
        let binaries = try #require(Self.binDirectory, "PostgreSQL server binaries not found under /usr/lib/postgresql")
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("sse-gateway-pg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let cluster = PostgresCluster(folder: folder, port: try Self.freePort(), binaries: binaries)
        if getuid() == 0 {
            let chown = try await ChildProcess.run(
                executable: URL(fileURLWithPath: "/bin/chown"), arguments: ["-R", "postgres:postgres", folder],
                timeout: .seconds(10))
            try #require(chown.status == 0, "chown failed: \(chown.standardError)")
        }
        try await cluster.run(
            "initdb", ["-D", "\(folder)/data", "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"],
            timeout: .seconds(60))
        try await cluster.startServer()
        return cluster
    }

    /// Starts the server on its folder and port (again, after ``stopServer()``).
    func startServer() async throws {
        try await self.run(
            "pg_ctl",
            [
                "-D", "\(self.folder)/data", "-l", "\(self.folder)/server.log", "-w", "-t", "30",
                "-o", "-p \(self.port) -k \(self.folder) -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ],
            timeout: .seconds(40))
    }

    /// Stops the server, leaving its data for ``startServer()``.
    func stopServer() async throws {
        try await self.run(
            "pg_ctl", ["-D", "\(self.folder)/data", "-m", "fast", "-w", "-t", "30", "stop"],
            timeout: .seconds(40))
    }

    /// Runs SQL through `psql` and returns what it printed (unaligned, tuples only).
    func psql(_ sql: String) async throws -> String {
        try await self.run(
            "psql",
            ["-h", "127.0.0.1", "-p", "\(self.port)", "-U", "postgres", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
            timeout: .seconds(30))
    }

    private func destroy() async {
        if FileManager.default.fileExists(atPath: "\(self.folder)/data/postmaster.pid") {
            _ = try? await self.stopServer()
        }
        try? FileManager.default.removeItem(atPath: self.folder)
    }

    /// Runs one of the server's tools with only standard input, output and error open, output to a file. The server
    /// that `pg_ctl` starts would otherwise inherit the descriptors by which Foundation notices that its child has
    /// exited, and the tool would never seem to finish.
    @discardableResult
    private func run(_ tool: String, _ arguments: [String], timeout: TimeAmount) async throws -> String {
        let output = "\(self.folder)/\(tool)-\(UUID().uuidString).out"
        let exec = """
            import os, sys
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))
            out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(out, 1); os.dup2(out, 2); os.close(out)
            os.execv(sys.argv[2], sys.argv[2:])
            """
        let command = ["/usr/bin/python3", "-c", exec, output, "\(self.binaries)/\(tool)"] + arguments
        let (executable, fullArguments) =
            getuid() == 0
            ? (URL(fileURLWithPath: "/usr/sbin/runuser"), ["-u", "postgres", "--"] + command)
            : (URL(fileURLWithPath: command[0]), Array(command.dropFirst()))
        let result = try await ChildProcess.run(executable: executable, arguments: fullArguments, timeout: timeout)
        let printed = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: output)
        try #require(result.status == 0, "\(tool) failed (\(result.status.map(String.init) ?? "?")): \(printed)")
        return printed
    }

    private static func freePort() throws -> Int {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(socket, pointer, length) == 0 && getsockname(socket, pointer, &length) == 0
            }
        }
        try #require(bound, "no free port")
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
