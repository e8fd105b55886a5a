import Logging
import NIOConcurrencyHelpers
import NIOCore

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
    /// Counts every entry.
    private let all = EventCounter()

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
        self.all.increment()
    }

    /// Waits until an entry whose message contains `text` has been logged after the first `skipping` entries;
    /// returns it.
    @discardableResult
    func waitFor(_ text: String, skipping: Int = 0, timeout: TimeAmount = .seconds(10)) async throws -> Entry {
        var seen = skipping
        while true {
            let entries = self.recorded
            if let entry = entries.dropFirst(seen).first(where: { $0.message.contains(text) }) { return entry }
            seen = max(seen, entries.count)
            try await self.all.wait(for: seen + 1, "a log entry containing \(text.debugDescription)", timeout: timeout)
        }
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
