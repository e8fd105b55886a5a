import Foundation
import SQLiteNIO
import SSEGateway

/// The file's settings and tables, applied on every open.
enum SQLiteSchema {
    /// The layout this build writes; a file marked with a later one was written by a newer gateway.
    static let version = 1

    /// Configures the connection, creates the tables when missing, takes the file's lock with a first write, and
    /// returns how many events the file holds and what they weigh.
    static func prepare(
        _ connection: SQLiteConnection,
        durability: SQLiteStorePlugin.Durability
    ) async throws -> (count: Int, bytes: Int) {
        // A second process on the file waits this long for the lock, then fails, rather than waiting for ever.
        _ = try await connection.query("PRAGMA busy_timeout = 2000")
        // One process owns the file: the WAL index lives in its memory (no -shm file), and a second gateway on the
        // same file fails at startup instead of interleaving its own sequence.
        _ = try await connection.query("PRAGMA locking_mode = EXCLUSIVE")
        let mode = try await connection.query("PRAGMA journal_mode = WAL").first?.column("journal_mode")?.string
        guard mode == "wal" else {
            throw EventStoreError("the file cannot be put in WAL mode (journal_mode is \(mode ?? "unknown"))")
        }
        _ = try await connection.query("PRAGMA synchronous = \(durability == .strict ? "FULL" : "NORMAL")")
        // Checkpoints every 1 MiB of WAL, and truncates it back to 1 MiB after one, so it stays small.
        _ = try await connection.query("PRAGMA wal_autocheckpoint = 256")
        _ = try await connection.query("PRAGMA journal_size_limit = 1048576")
        let found = try await connection.query("PRAGMA user_version").first?.column("user_version")?.integer ?? 0
        guard found <= Self.version else {
            throw EventStoreError(
                "the file was written by a newer gateway (layout \(found); this one reads up to \(Self.version))")
        }
        // AUTOINCREMENT: a position is never used twice, even once every event has been deleted.
        _ = try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id BLOB NOT NULL UNIQUE,
                topics TEXT NOT NULL,
                data BLOB NOT NULL,
                type BLOB,
                retry INTEGER,
                private INTEGER NOT NULL,
                size INTEGER NOT NULL,
                created INTEGER NOT NULL
            )
            """)
        _ = try await connection.query(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        _ = try await connection.query("PRAGMA user_version = \(Self.version)")
        try await Self.touch(connection)
        let totals = try await connection.query("SELECT count(*) AS rows, total(size) AS bytes FROM events").first
        return (totals?.column("rows")?.integer ?? 0, Int(totals?.column("bytes")?.double ?? 0))
    }

    /// A small real write: takes the file's lock at open, and tells whether the store can commit again after a
    /// failure.
    static func touch(_ connection: SQLiteConnection) async throws {
        _ = try await connection.query(
            "INSERT INTO meta (key, value) VALUES ('written', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [.integer(Int(Date().timeIntervalSince1970 * 1000))])
    }
}
