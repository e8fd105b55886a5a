import Foundation
import Glibc
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO
import SSEGateway
import Synchronization

/// The embedded default store: events in one SQLite file (WAL mode), so that history survives a restart, a crash or
/// a deploy without a server to run.
///
/// One connection, on a thread pool of one thread, holds the file with an exclusive lock: a second gateway started
/// on the same file fails at startup instead of interleaving its own sequence. Each append is one `INSERT … ON
/// CONFLICT DO NOTHING RETURNING` statement, so a batch commits as one transaction. Retention deletes the oldest
/// rows in small batches after appends and on a timer, and the same timer checkpoints the WAL, so that the files
/// stay bounded under a steady stream.
final class SQLiteEventStore: EventStore {
    struct Bounds {
        var size: Int
        var maxBytes: Int
        var maxAge: Duration?
    }

    private struct State {
        var count: Int
        var bytes: Int
        var writesSinceCheckpoint = 0
        var closed = false
    }

    /// Rows one retention step deletes at most, so that a commit never waits long behind it.
    static let retentionBatch = 256
    /// Rows one append statement carries at most (8 variables each, under SQLite's 32,766).
    static let appendBatch = 512

    /// The open connection: replaced only when the file was removed and is written back (``ensureFile()``).
    private let current: Mutex<SQLiteConnection>
    private let path: String
    private let durability: SQLiteStorePlugin.Durability
    /// The file the connection has open, to notice that the path no longer leads to it.
    private let identity: Mutex<FileIdentity?>
    private let threadPool: NIOThreadPool
    private let bounds: Bounds
    private let logger: Logger
    private let state: Mutex<State>
    private let timer = Mutex<RepeatedTask?>(nil)
    /// The end of the queue of work on the connection: every operation starts once the previous one has finished,
    /// so a transaction of several statements never has another operation's statement inside it.
    private let tail: Mutex<EventLoopFuture<Void>?> = Mutex(nil)

    private init(
        connection: SQLiteConnection,
        path: String,
        durability: SQLiteStorePlugin.Durability,
        threadPool: NIOThreadPool,
        bounds: Bounds,
        count: Int,
        bytes: Int,
        logger: Logger
    ) {
        self.current = Mutex(connection)
        self.path = path
        self.durability = durability
        self.identity = Mutex(FileIdentity(path: path))
        self.threadPool = threadPool
        self.bounds = bounds
        self.logger = logger
        self.state = Mutex(State(count: count, bytes: bytes))
    }

    /// Opens (creating) the file at `path` and its schema, takes the file's lock, and starts the maintenance timer.
    static func open(
        path: String,
        durability: SQLiteStorePlugin.Durability,
        bounds: Bounds,
        checkpointInterval: Duration,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) async throws -> SQLiteEventStore {
        let threadPool = NIOThreadPool(numberOfThreads: 1)
        threadPool.start()
        let eventLoop = eventLoopGroup.next()
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(
                storage: .file(path: path), threadPool: threadPool, logger: logger, on: eventLoop)
        } catch {
            try? await threadPool.shutdownGracefully()
            throw error
        }
        do {
            let (count, bytes) = try await SQLiteSchema.prepare(connection, durability: durability)
            let store = SQLiteEventStore(
                connection: connection, path: path, durability: durability, threadPool: threadPool, bounds: bounds,
                count: count, bytes: bytes, logger: logger)
            try await store.trim()
            store.startTimer(every: checkpointInterval, on: eventLoop)
            return store
        } catch {
            try? await connection.close()
            try? await threadPool.shutdownGracefully()
            throw error
        }
    }

    private var connection: SQLiteConnection {
        self.current.withLock { $0 }
    }

    // MARK: EventStore

    func append(_ records: [EventRecord], on eventLoop: any EventLoop) -> EventLoopFuture<[AppendOutcome]> {
        self.serially(on: eventLoop) {
            try await self.ensureFile()
            let outcomes: [AppendOutcome]
            if records.count <= Self.appendBatch {
                outcomes = try await self.insert(records[...])
            } else {
                outcomes = try await self.transaction {
                    var outcomes: [AppendOutcome] = []
                    var start = records.startIndex
                    while start < records.endIndex {
                        let end = min(start + Self.appendBatch, records.endIndex)
                        outcomes += try await self.insert(records[start..<end])
                        start = end
                    }
                    return outcomes
                }
            }
            if self.needsTrim { try await self.trim() }
            return outcomes
        }
    }

    func events(after position: UInt64, limit: Int, on eventLoop: any EventLoop) -> EventLoopFuture<[StoredEvent]> {
        self.serially(on: eventLoop) {
            try await self.connection.query(
                "SELECT \(EventRow.columns) FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                [.integer(Int(clamping: position)), .integer(limit)]
            ).map(EventRow.decode)
        }
    }

    func event(withID id: String, on eventLoop: any EventLoop) -> EventLoopFuture<StoredEvent?> {
        self.serially(on: eventLoop) {
            try await self.connection.query(
                "SELECT \(EventRow.columns) FROM events WHERE id = ?", [EventRow.blob(id)]
            ).first.map(EventRow.decode)
        }
    }

    func newest(limit: Int, on eventLoop: any EventLoop) -> EventLoopFuture<[StoredEvent]> {
        self.serially(on: eventLoop) {
            try await self.connection.query(
                """
                SELECT \(EventRow.columns) FROM (SELECT * FROM events ORDER BY seq DESC LIMIT ?) ORDER BY seq
                """,
                [.integer(limit)]
            ).map(EventRow.decode)
        }
    }

    func checkWritable(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        self.serially(on: eventLoop) {
            try await self.ensureFile()
            try await SQLiteSchema.touch(self.connection)
        }
    }

    func close() async throws {
        let timer = self.timer.withLock { timer -> RepeatedTask? in
            defer { timer = nil }
            return timer
        }
        timer?.cancel()
        let alreadyClosed = self.state.withLock { state -> Bool in
            defer { state.closed = true }
            return state.closed
        }
        guard !alreadyClosed else { return }
        // After whatever is queued on the connection.
        try? await self.serially(on: self.connection.eventLoop) {}.get()
        do {
            // Folds the WAL into the file, so that a stopped gateway leaves one file behind.
            _ = try await self.connection.query("PRAGMA wal_checkpoint(TRUNCATE)")
        } catch {
            self.logger.warning("WAL checkpoint on close failed", metadata: ["error": "\(error)"])
        }
        try await self.connection.close()
        try await self.threadPool.shutdownGracefully()
    }

    // MARK: Appending

    /// Runs `operation` once every operation queued before it has finished; completes on `eventLoop`.
    private func serially<T: Sendable>(
        on eventLoop: any EventLoop,
        _ operation: @escaping @Sendable () async throws -> T
    ) -> EventLoopFuture<T> {
        let promise = eventLoop.makePromise(of: T.self)
        let done = promise.futureResult.map { _ in () }.recover { _ in () }
        let previous = self.tail.withLock { tail -> EventLoopFuture<Void>? in
            defer { tail = done }
            return tail
        }
        guard let previous else {
            promise.completeWithTask(operation)
            return promise.futureResult
        }
        previous.whenComplete { _ in promise.completeWithTask(operation) }
        return promise.futureResult
    }

    /// Runs `body` inside one transaction, rolled back when it throws.
    private func transaction<T>(_ body: () async throws -> T) async throws -> T {
        _ = try await self.connection.query("BEGIN IMMEDIATE")
        do {
            let result = try await body()
            _ = try await self.connection.query("COMMIT")
            return result
        } catch {
            _ = try? await self.connection.query("ROLLBACK")
            throw error
        }
    }

    private func insert(_ records: ArraySlice<EventRecord>) async throws -> [AppendOutcome] {
        let now = Int(Date().timeIntervalSince1970 * 1000)
        var binds: [SQLiteData] = []
        binds.reserveCapacity(records.count * 8)
        for record in records {
            binds += EventRow.binds(record, createdAt: now)
        }
        let placeholders = Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?)", count: records.count)
            .joined(separator: ", ")
        let inserted = try await self.connection.query(
            """
            INSERT INTO events (id, topics, data, type, retry, private, size, created) VALUES \(placeholders)
            ON CONFLICT (id) DO NOTHING RETURNING seq
            """,
            binds)
        // Rows are inserted in the order listed, each under a larger seq than the one before (RETURNING's own order
        // is unspecified): when every record went in, the sorted positions are the records' own. Otherwise (an id
        // already stored, or twice in the batch) the batch's ids are looked up.
        let positions = try inserted.map { row -> UInt64 in
            guard let seq = row.column("seq")?.integer else {
                throw EventStoreError("the store returned a row without seq")
            }
            return UInt64(seq)
        }.sorted()
        if positions.count == records.count {
            self.state.withLock { state in
                state.count += records.count
                state.bytes += records.reduce(0) { $0 + $1.size }
                state.writesSinceCheckpoint += 1
            }
            return positions.map { .appended(position: $0) }
        }
        let stored = try await self.existing(Set(records.map { Array($0.id.utf8) }))
        var positionByID: [[UInt8]: UInt64] = [:]
        let fresh = Set(positions)
        for (key, event) in stored where fresh.contains(event.position) {
            positionByID[key] = event.position
        }
        var outcomes: [AppendOutcome] = []
        var earlier: [[UInt8]: StoredEvent] = [:]
        var missing: [Int: [UInt8]] = [:]
        var appendedBytes = 0
        for (index, record) in records.enumerated() {
            let key = Array(record.id.utf8)
            if let stored = earlier[key] {
                outcomes.append(.exists(stored))
            } else if let position = positionByID[key] {
                let stored = StoredEvent(position: position, record: record)
                earlier[key] = stored
                appendedBytes += record.size
                outcomes.append(.appended(position: position))
            } else {
                missing[index] = key
                outcomes.append(.appended(position: 0))  // replaced below
            }
        }
        if !missing.isEmpty {
            let existing = try await self.existing(Set(missing.values))
            for (index, key) in missing {
                guard let stored = existing[key] else {
                    throw EventStoreError("an event was neither inserted nor found under its id")
                }
                outcomes[index] = .exists(stored)
            }
        }
        let count = earlier.count
        self.state.withLock { state in
            state.count += count
            state.bytes += appendedBytes
            state.writesSinceCheckpoint += 1
        }
        return outcomes
    }

    private func existing(_ ids: Set<[UInt8]>) async throws -> [[UInt8]: StoredEvent] {
        let placeholders = Array(repeating: "?", count: ids.count).joined(separator: ", ")
        let rows = try await self.connection.query(
            "SELECT \(EventRow.columns) FROM events WHERE id IN (\(placeholders))",
            ids.map { .blob(ByteBuffer(bytes: $0)) })
        var found: [[UInt8]: StoredEvent] = [:]
        for row in rows {
            let event = try EventRow.decode(row)
            found[Array(event.record.id.utf8)] = event
        }
        return found
    }

    // MARK: Retention and maintenance

    /// Whether the rows are far enough beyond a bound to delete a batch: an eighth beyond (at most 256 rows, or an
    /// eighth of the bytes), so that deleting costs a statement per batch of publishes rather than per publish.
    private var needsTrim: Bool {
        let countSlack = max(1, min(self.bounds.size / 8, Self.retentionBatch))
        let bytesSlack = self.bounds.maxBytes / 8
        return self.state.withLock { state in
            state.count > self.bounds.size + countSlack || state.bytes > self.bounds.maxBytes + bytesSlack
        }
    }

    /// Deletes the oldest rows beyond `hub.history`'s bounds, a small batch per statement.
    func trim() async throws {
        while true {
            let (countExcess, bytesExcess) = self.state.withLock { state in
                (state.count - self.bounds.size, state.bytes - self.bounds.maxBytes)
            }
            let cutoff = self.bounds.maxAge.map { age in
                Int(Date().timeIntervalSince1970 * 1000) - Int(age.components.seconds * 1000)
            }
            guard countExcess > 0 || bytesExcess > 0 || cutoff != nil else { return }
            // The oldest rows that any bound condemns: a prefix, since the conditions hold for a row's elders too.
            let rows = try await self.connection.query(
                """
                SELECT max(seq) AS last, count(*) AS rows, total(size) AS bytes FROM (
                    SELECT seq, size, created,
                        row_number() OVER w AS n, sum(size) OVER w - size AS before
                    FROM (SELECT seq, size, created FROM events ORDER BY seq LIMIT ?)
                    WINDOW w AS (ORDER BY seq ROWS UNBOUNDED PRECEDING)
                ) WHERE n <= ? OR before < ? OR created < ?
                """,
                [
                    .integer(Self.retentionBatch), .integer(max(countExcess, 0)), .integer(max(bytesExcess, 0)),
                    .integer(cutoff ?? Int.min),
                ])
            guard let row = rows.first, let last = row.column("last")?.integer,
                let deleted = row.column("rows")?.integer, deleted > 0
            else { return }
            let bytes = Int(row.column("bytes")?.double ?? 0)
            _ = try await self.connection.query("DELETE FROM events WHERE seq <= ?", [.integer(last)])
            self.state.withLock { state in
                state.count -= deleted
                state.bytes -= bytes
                state.writesSinceCheckpoint += 1
            }
            guard deleted == Self.retentionBatch else { return }
        }
    }

    private func startTimer(every interval: Duration, on eventLoop: any EventLoop) {
        let amount = TimeAmount.nanoseconds(
            interval.components.seconds * 1_000_000_000 + interval.components.attoseconds / 1_000_000_000)
        let task = eventLoop.scheduleRepeatedAsyncTask(initialDelay: amount, delay: amount) { _ in
            self.serially(on: eventLoop) { await self.maintain() }
        }
        self.timer.withLock { $0 = task }
    }

    /// Writes the file back when it was removed while open: SQLite would go on committing to the removed file, and
    /// everything since would be lost with the process. The open connection still reads it all, so `VACUUM INTO`
    /// writes a complete copy at the path, which becomes the file from then on. A different file now at the path
    /// is not overwritten: commits fail (503) until it is moved away.
    func ensureFile() async throws {
        let expected = self.identity.withLock { $0 }
        let found = FileIdentity(path: self.path)
        guard found != expected else { return }
        guard found == nil else {
            throw EventStoreError(
                "\(self.path) was replaced by another file; commits are refused until it is moved away")
        }
        self.logger.warning(
            "the database file was removed while open; writing it back from the open copy",
            metadata: ["path": "\(self.path)"])
        do {
            try FileManager.default.createDirectory(
                atPath: URL(fileURLWithPath: self.path).deletingLastPathComponent().path,
                withIntermediateDirectories: true)
            _ = try await self.connection.query("VACUUM INTO ?", [.text(self.path)])
            let reopened = try await SQLiteConnection.open(
                storage: .file(path: self.path), threadPool: self.threadPool, logger: self.logger,
                on: self.connection.eventLoop)
            do {
                _ = try await SQLiteSchema.prepare(reopened, durability: self.durability)
            } catch {
                try? await reopened.close()
                throw error
            }
            let old = self.current.withLock { current -> SQLiteConnection in
                defer { current = reopened }
                return current
            }
            self.identity.withLock { $0 = FileIdentity(path: self.path) }
            try? await old.close()
        } catch {
            throw EventStoreError("\(self.path) was removed and cannot be written back: \(error)")
        }
        self.logger.notice("the database file was written back", metadata: ["path": "\(self.path)"])
    }

    /// Age retention, then a WAL checkpoint when anything was written since the last one.
    private func maintain() async {
        do {
            try await self.ensureFile()
            if self.bounds.maxAge != nil { try await self.trim() }
            let written = self.state.withLock { state -> Bool in
                defer { state.writesSinceCheckpoint = 0 }
                return state.writesSinceCheckpoint > 0 && !state.closed
            }
            if written {
                _ = try await self.connection.query("PRAGMA wal_checkpoint(TRUNCATE)")
            }
        } catch {
            self.logger.warning("event store maintenance failed", metadata: ["error": "\(error)"])
        }
    }
}
