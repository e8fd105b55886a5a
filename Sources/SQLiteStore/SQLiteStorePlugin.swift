import Glibc
import Logging
public import NIOCore
import SQLiteNIO
public import SSEGateway

/// `{"type": "sqlite", "path": "data/events.sqlite"}`: events in one SQLite file, the embedded default.
///
/// Settings: `path` (required; relative paths start at the configuration file's folder, created when missing),
/// `durability` (`"normal"`, the default: a commit survives a crash of the process; `"strict"`: it survives a power
/// loss too, at the cost of a sync to disk per commit) and `checkpointInterval` (how often the WAL is folded into
/// the file and old events are deleted by age; default `"10s"`).
public struct SQLiteStorePlugin: EventStorePlugin {
    public static let type = "sqlite"

    /// What a commit survives.
    public enum Durability: String, Sendable, CaseIterable {
        /// WAL with `synchronous=NORMAL`: a commit survives the process crashing or being killed; the last commits
        /// before a power loss or an OS crash may be lost (the file stays consistent).
        case normal
        /// WAL with `synchronous=FULL`: every commit is synced to disk before the publish is answered.
        case strict
    }

    /// The file, as written in the configuration.
    public let path: String
    /// The file, resolved against the configuration file's folder.
    public let resolvedPath: String
    public let durability: Durability
    public let checkpointInterval: Duration
    private let context: EventStoreContext
    private let pathKey: String

    public init(settings: ConfigObject, context: EventStoreContext) throws {
        self.context = context
        self.pathKey = ConfigNode.childPath(settings.path, key: "path")
        self.path = try settings.require("path") { node throws(ConfigError) in
            let path = try node.string()
            guard !path.isEmpty else { throw node.error("must not be empty") }
            guard !path.contains("\0") else { throw node.error("must not contain a NUL character") }
            return path
        }
        self.resolvedPath = context.resolve(path: self.path)
        self.durability = try settings.decode("durability", default: .normal) { node throws(ConfigError) in
            try node.oneOf(Durability.self)
        }
        self.checkpointInterval = try settings.decode("checkpointInterval", default: .seconds(10)) {
            node throws(ConfigError) in
            let interval = try node.duration()
            guard interval >= .milliseconds(100) else { throw node.error("must be at least 100ms") }
            return interval
        }
    }

    public func open(on eventLoopGroup: any EventLoopGroup) async throws -> any EventStore {
        let path = self.resolvedPath
        try self.createFolder(of: path)
        try self.checkAccess(path)
        do {
            return try await SQLiteEventStore.open(
                path: path,
                durability: self.durability,
                bounds: .init(
                    size: self.context.history.size,
                    maxBytes: self.context.history.maxBytes,
                    maxAge: self.context.history.maxAge),
                checkpointInterval: self.checkpointInterval,
                eventLoopGroup: eventLoopGroup,
                logger: self.context.logger
            )
        } catch let error as SQLiteError where error.reason == .busy {
            throw ConfigError(
                path: self.pathKey,
                message: "cannot use \(path) as an event store: another process holds its lock (another gateway?)")
        } catch {
            throw ConfigError(path: self.pathKey, message: "cannot use \(path) as an event store: \(error)")
        }
    }

    /// Creates the file's folder and its parents when missing, naming the one that cannot be made and why.
    private func createFolder(of path: String) throws(ConfigError) {
        var folder = ""
        let components = path.split(separator: "/", omittingEmptySubsequences: true).dropLast()
        for component in components {
            folder += "/" + component
            var info = stat()
            if stat(folder, &info) == 0 {
                guard info.st_mode & S_IFMT == S_IFDIR else {
                    throw ConfigError(path: self.pathKey, message: "cannot create \(path): \(folder) is not a folder")
                }
                continue
            }
            if mkdir(folder, 0o755) != 0 && errno != EEXIST {
                throw ConfigError(
                    path: self.pathKey, message: "cannot create the folder \(folder): \(Self.systemError())")
            }
        }
    }

    /// Opens the file for reading and writing (creating it) once, so that the error names the system's reason
    /// rather than SQLite's "unable to open database file".
    private func checkAccess(_ path: String) throws(ConfigError) {
        let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ConfigError(path: self.pathKey, message: "cannot open \(path): \(Self.systemError())")
        }
        close(descriptor)
    }

    private static func systemError() -> String {
        String(cString: strerror(errno))
    }
}
