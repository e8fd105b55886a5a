import Foundation
import Logging
import NIOCore
import PostgresNIO
import SSEGateway
import Synchronization

/// Events in one PostgreSQL table that several gateways share: one order for every gateway's events, replay on any
/// node, and a coalesced `NOTIFY` that wakes every node's reader.
///
/// An append is one transaction: it takes the table's advisory lock, inserts the batch (`ON CONFLICT (id) DO
/// NOTHING RETURNING seq, id`), and notifies with an empty payload. The lock makes positions follow commit order
/// across nodes, so a reader of `seq > cursor` never passes an event that is still to commit (a sequence alone hands
/// out numbers at insert time, and a later number may commit first). Retention runs on a timer, on one node at a
/// time (a second advisory lock), in batches.
final class PostgresEventStore: EventStore {
    struct Settings: Sendable {
        var schema: PostgresSchema
        var pollInterval: Duration
        var retentionInterval: Duration
        /// How long one operation may wait for the server (a connection included) before it fails: while the server
        /// is unreachable, publishes get 503 within it rather than waiting for a connection for ever.
        var queryTimeout: Duration
        var size: Int
        var maxBytes: Int
        var maxAge: Duration?
        /// Where `LISTEN` connects: a direct connection, which a pooler in transaction mode does not keep.
        var notify: PostgresConnection.Configuration
    }

    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let settings: Settings
    private let logger: Logger
    private let retention = Mutex<Task<Void, Never>?>(nil)

    private init(client: PostgresClient, runner: Task<Void, Never>, settings: Settings, logger: Logger) {
        self.client = client
        self.runner = runner
        self.settings = settings
        self.logger = logger
    }

    /// Connects, creates the table when missing, and starts retention.
    static func open(
        client configuration: PostgresClient.Configuration,
        settings: Settings,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) async throws -> PostgresEventStore {
        let client = PostgresClient(
            configuration: configuration, eventLoopGroup: eventLoopGroup, backgroundLogger: logger)
        let runner = Task { await client.run() }
        let store = PostgresEventStore(client: client, runner: runner, settings: settings, logger: logger)
        do {
            try await settings.schema.create(on: client, logger: logger)
        } catch {
            runner.cancel()
            await runner.value
            throw error
        }
        store.startRetention()
        return store
    }

    var isShared: Bool { true }

    var pollInterval: Duration { self.settings.pollInterval }

    private var table: String { self.settings.schema.table }

    // MARK: EventStore

    func append(_ records: [EventRecord], on eventLoop: any EventLoop) -> EventLoopFuture<[AppendOutcome]> {
        self.bounded(on: eventLoop) {
            let inserted = try await self.client.withTransaction(logger: self.logger) { connection in
                try await connection.query(
                    "SELECT pg_advisory_xact_lock(hashtext(\(self.settings.schema.appendLock)))", logger: self.logger)
                let rows = try await connection.query(self.insertQuery(records), logger: self.logger)
                var positions: [[UInt8]: UInt64] = [:]
                for try await (seq, id) in rows.decode((Int64, ByteBuffer).self) {
                    positions[Array(id.readableBytesView)] = UInt64(seq)
                }
                try await connection.query(
                    PostgresQuery(unsafeSQL: "NOTIFY \(self.table)"), logger: self.logger)
                return positions
            }
            return try await self.outcomes(of: records, inserted: inserted)
        }
    }

    func events(after position: UInt64, limit: Int, on eventLoop: any EventLoop) -> EventLoopFuture<[StoredEvent]> {
        self.bounded(on: eventLoop) {
            try await self.select(
                "WHERE seq > $1 ORDER BY seq LIMIT $2",
                binds: { binds in
                    binds.append(Int64(clamping: position))
                    binds.append(Int64(limit))
                })
        }
    }

    func event(withID id: String, on eventLoop: any EventLoop) -> EventLoopFuture<StoredEvent?> {
        self.bounded(on: eventLoop) {
            try await self.select("WHERE id = $1", binds: { $0.append(ByteBuffer(string: id)) }).first
        }
    }

    func newest(limit: Int, on eventLoop: any EventLoop) -> EventLoopFuture<[StoredEvent]> {
        self.bounded(on: eventLoop) {
            try await self.select("ORDER BY seq DESC LIMIT $1", binds: { $0.append(Int64(limit)) }).reversed()
        }
    }

    func checkWritable(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        self.bounded(on: eventLoop) {
            // A server in recovery (a standby) answers reads and refuses every write.
            let rows = try await self.client.query("SELECT pg_is_in_recovery()", logger: self.logger)
            for try await readOnly in rows.decode(Bool.self) where readOnly {
                throw EventStoreError("the PostgreSQL server is read-only (in recovery)")
            }
        }
    }

    func watchAppends(_ appended: @escaping @Sendable () -> Void) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: self.settings.notify, id: 1, logger: self.logger)
        do {
            try await connection.listen(on: self.table) { notifications in
                // Appends may have happened while the listen was being set up.
                appended()
                for try await _ in notifications { appended() }
            }
            try? await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    func close() async throws {
        let retention = self.retention.withLock { task -> Task<Void, Never>? in
            defer { task = nil }
            return task
        }
        retention?.cancel()
        await retention?.value
        self.runner.cancel()
        await self.runner.value
    }

    // MARK: Queries

    /// Runs `operation` as a task that fails after `queryTimeout`, cancelling it.
    private func bounded<T: Sendable>(
        on eventLoop: any EventLoop,
        _ operation: @escaping @Sendable () async throws -> T
    ) -> EventLoopFuture<T> {
        let timeout = self.settings.queryTimeout
        return eventLoop.makeFutureWithTask {
            try await withThrowingTaskGroup(of: T.self) { group in
                group.addTask { try await operation() }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw EventStoreError("PostgreSQL did not answer within queryTimeout (\(timeout))")
                }
                defer { group.cancelAll() }
                do {
                    return try await group.next()!
                } catch let error as EventStoreError {
                    throw error
                } catch {
                    throw EventStoreError("PostgreSQL: \(PostgresStorePlugin.describe(error))")
                }
            }
        }
    }

    private func insertQuery(_ records: [EventRecord]) -> PostgresQuery {
        var binds = PostgresBindings(capacity: records.count * 7)
        var rows: [String] = []
        rows.reserveCapacity(records.count)
        for record in records {
            let first = binds.count
            binds.append(ByteBuffer(string: record.id))
            binds.append(record.topicsJSON)
            binds.append(ByteBuffer(string: record.data))
            binds.append(record.type.map { ByteBuffer(string: $0) })
            binds.append(record.retry.map { Int64(clamping: $0) })
            binds.append(record.isPrivate)
            binds.append(Int32(clamping: record.size))
            rows.append("(" + (1...7).map { "$\(first + $0)" }.joined(separator: ", ") + ")")
        }
        return PostgresQuery(
            unsafeSQL: """
                INSERT INTO \(self.table) (id, topics, data, type, retry, private, size)
                VALUES \(rows.joined(separator: ", "))
                ON CONFLICT (id) DO NOTHING RETURNING seq, id
                """,
            binds: binds)
    }

    /// What became of each record: positions come back by id (RETURNING's order is unspecified); a record whose id
    /// was already stored, or came earlier in the batch, gets the stored event.
    private func outcomes(of records: [EventRecord], inserted: [[UInt8]: UInt64]) async throws -> [AppendOutcome] {
        var outcomes: [AppendOutcome] = []
        var earlier: [[UInt8]: StoredEvent] = [:]
        var missing: [Int: String] = [:]
        for (index, record) in records.enumerated() {
            let key = Array(record.id.utf8)
            if let stored = earlier[key] {
                outcomes.append(.exists(stored))
            } else if let position = inserted[key] {
                earlier[key] = StoredEvent(position: position, record: record)
                outcomes.append(.appended(position: position))
            } else {
                missing[index] = record.id
                outcomes.append(.appended(position: 0))  // replaced below
            }
        }
        for (index, id) in missing {
            guard
                let stored = try await self.select("WHERE id = $1", binds: { $0.append(ByteBuffer(string: id)) }).first
            else {
                throw EventStoreError("an event was neither inserted nor found under its id")
            }
            outcomes[index] = .exists(stored)
        }
        return outcomes
    }

    private func select(
        _ clause: String,
        binds fill: (inout PostgresBindings) -> Void
    ) async throws -> [StoredEvent] {
        var binds = PostgresBindings()
        fill(&binds)
        let rows = try await self.client.query(
            PostgresQuery(
                unsafeSQL: "SELECT seq, id, topics, data, type, retry, private FROM \(self.table) \(clause)",
                binds: binds),
            logger: self.logger)
        var events: [StoredEvent] = []
        for try await (seq, id, topics, data, type, retry, isPrivate) in rows.decode(
            (Int64, ByteBuffer, String, ByteBuffer, ByteBuffer?, Int64?, Bool).self)
        {
            events.append(
                StoredEvent(
                    position: UInt64(seq),
                    record: EventRecord(
                        id: String(buffer: id),
                        topics: try EventRecord.topics(fromJSON: topics),
                        data: String(buffer: data),
                        type: type.map { String(buffer: $0) },
                        retry: retry.map { UInt64(clamping: $0) },
                        isPrivate: isPrivate)))
        }
        return events
    }

    // MARK: Retention

    private func startRetention() {
        let interval = self.settings.retentionInterval
        let task = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard !Task.isCancelled else { return }
                do {
                    try await self.trim()
                } catch {
                    self.logger.warning("deleting old events failed", metadata: ["error": "\(error)"])
                }
            }
        }
        self.retention.withLock { $0 = task }
    }

    /// Deletes what is beyond `hub.history`'s bounds, in batches, on the one node that holds the retention lock.
    func trim() async throws {
        try await self.client.withConnection { connection in
            let locked = try await connection.query(
                "SELECT pg_try_advisory_lock(hashtext(\(self.settings.schema.retentionLock)))", logger: self.logger)
            var held = false
            for try await value in locked.decode(Bool.self) { held = value }
            guard held else { return }
            do {
                try await self.deleteBeyondBounds(on: connection)
            } catch {
                _ = try? await connection.query(
                    "SELECT pg_advisory_unlock(hashtext(\(self.settings.schema.retentionLock)))", logger: self.logger)
                throw error
            }
            try await connection.query(
                "SELECT pg_advisory_unlock(hashtext(\(self.settings.schema.retentionLock)))", logger: self.logger)
        }
    }

    private func deleteBeyondBounds(on connection: PostgresConnection) async throws {
        let batch = 1000
        while !Task.isCancelled {
            // The newest `size` events whose running total fits `maxBytes`, and not older than `maxAge`, are kept:
            // the last event to delete is the newest of the rest, among the oldest `batch`.
            let maxAgeSeconds = self.settings.maxAge.map { Double($0.components.seconds) } ?? -1
            let rows = try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        WITH kept AS (
                            SELECT seq FROM (
                                SELECT seq, created, row_number() OVER w AS n, sum(size) OVER w AS bytes
                                FROM \(self.table) WINDOW w AS (ORDER BY seq DESC)
                            ) newest
                            WHERE n <= $1 AND bytes <= $2
                                AND ($3::float8 < 0 OR created >= now() - make_interval(secs => $3::float8))
                        ), doomed AS (
                            SELECT seq FROM \(self.table)
                            WHERE seq < COALESCE((SELECT min(seq) FROM kept), 9223372036854775807)
                            ORDER BY seq LIMIT $4
                        )
                        DELETE FROM \(self.table) WHERE seq IN (SELECT seq FROM doomed) RETURNING seq
                        """,
                    binds: {
                        var binds = PostgresBindings()
                        binds.append(Int64(self.settings.size))
                        binds.append(Int64(self.settings.maxBytes))
                        binds.append(maxAgeSeconds)
                        binds.append(Int64(batch))
                        return binds
                    }()),
                logger: self.logger)
            var deleted = 0
            for try await _ in rows { deleted += 1 }
            guard deleted == batch else { return }
        }
    }
}
