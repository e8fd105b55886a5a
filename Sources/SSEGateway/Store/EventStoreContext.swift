import Foundation
public import Logging

/// What an ``EventStorePlugin`` gets besides its own settings: the bounds it retains events to, where relative paths
/// start, and where to log.
public struct EventStoreContext: Sendable {
    /// `hub.history`: how many events, how many bytes and how old the retained history may be.
    public let history: GatewayConfiguration.Hub.History
    /// The folder that relative paths in the settings are resolved against: the configuration file's.
    public let baseDirectory: String
    /// Where the store logs; its metadata names the store.
    public let logger: Logger

    public init(history: GatewayConfiguration.Hub.History, baseDirectory: String, logger: Logger) {
        self.history = history
        self.baseDirectory = baseDirectory
        self.logger = logger
    }

    /// `path` as an absolute path: unchanged when absolute, else under ``baseDirectory``.
    public func resolve(path: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        return URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: self.baseDirectory, isDirectory: true))
            .standardizedFileURL.path
    }
}
