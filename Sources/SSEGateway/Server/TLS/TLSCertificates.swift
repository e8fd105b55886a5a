import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// The server's TLS context, replaced when the certificate files are reloaded.
///
/// Each new connection takes the context current when it is accepted; a connection keeps the one it started with,
/// so a reload never touches an open stream. A reload that fails keeps the previous context.
final class TLSCertificates: Sendable {
    let settings: GatewayConfiguration.Server.TLS
    private let baseDirectory: String
    private let protocols: [String]
    private let logger: Logger
    private let current: NIOLockedValueBox<TLSCredentials>
    private let watcher = NIOLockedValueBox<RepeatedTask?>(nil)

    /// Reads the files; throws the problem, naming its key, when they cannot be used.
    init(
        _ settings: GatewayConfiguration.Server.TLS,
        baseDirectory: String,
        protocols: [String],
        logger: Logger
    ) throws(ConfigError) {
        self.settings = settings
        self.baseDirectory = baseDirectory
        self.protocols = protocols
        self.logger = logger
        self.current = NIOLockedValueBox(
            try TLSCredentials.load(settings, baseDirectory: baseDirectory, protocols: protocols))
    }

    /// The context for a connection accepted now.
    var context: NIOSSLContext {
        self.current.withLockedValue { $0.context }
    }

    /// Reads the files again and uses them for new connections; on failure, keeps the previous ones and throws why.
    func reload() throws(ConfigError) {
        let loaded = try TLSCredentials.load(
            self.settings, baseDirectory: self.baseDirectory, protocols: self.protocols)
        self.current.withLockedValue { $0 = loaded }
    }

    /// Reloads when a file differs from what was last read (or tried), logging the outcome.
    func reloadIfChanged() {
        let now = TLSCredentials.stamps(of: self.settings, baseDirectory: self.baseDirectory)
        let last = self.current.withLockedValue { $0.stamp }
        // A file missing for a moment (a renewal that replaces it) is checked again next time.
        guard now.allSatisfy({ $0 != nil }), now.compactMap({ $0 }) != last else { return }
        self.reloadLogging(trigger: "the files changed")
    }

    /// Reloads, logging the outcome; returns whether the new files are in use.
    @discardableResult
    func reloadLogging(trigger: String) -> Bool {
        do {
            try self.reload()
            self.logger.info("TLS certificate reloaded", metadata: ["trigger": "\(trigger)"])
            return true
        } catch {
            // Stop retrying the same broken files until they change again.
            let stamp = TLSCredentials.stamps(of: self.settings, baseDirectory: self.baseDirectory).compactMap { $0 }
            self.current.withLockedValue { $0 = TLSCredentials(context: $0.context, stamp: stamp) }
            self.logger.error(
                "TLS certificate not reloaded; the previous one stays in use",
                metadata: ["trigger": "\(trigger)", "error": "\(error)"])
            return false
        }
    }

    /// Checks the files every `reloadCheckInterval` on `loop` until ``stopWatching()``.
    func watch(on loop: any EventLoop) {
        guard let interval = self.settings.reloadCheckInterval else { return }
        let amount = TimeAmount(interval)
        let task = loop.scheduleRepeatedTask(initialDelay: amount, delay: amount) { _ in
            self.reloadIfChanged()
        }
        self.watcher.withLockedValue { $0 = task }
    }

    func stopWatching() {
        self.watcher.withLockedValue { task in
            task?.cancel()
            task = nil
        }
    }
}
