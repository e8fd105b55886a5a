import Logging
import NIOConcurrencyHelpers

/// Collects what a gateway logs, so that a test can await a message and read its metadata.
final class LogRecorder: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    private let entries = NIOLockedValueBox<[Entry]>([])
    /// Counts entries at `warning` or above, for tests to await.
    let warnings = EventCounter()

    /// A logger that records at `level` and above into this recorder.
    func logger(level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: "test-gateway") { _ in Handler(recorder: self) }
        logger.logLevel = level
        return logger
    }

    var recorded: [Entry] { self.entries.withLockedValue { $0 } }

    fileprivate func record(_ entry: Entry) {
        self.entries.withLockedValue { $0.append(entry) }
        if entry.level >= .warning { self.warnings.increment() }
    }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let metadata = self.metadata.merging(event.metadata ?? [:]) { _, new in new }
            self.recorder.record(Entry(level: event.level, message: "\(event.message)", metadata: metadata))
        }
    }
}
