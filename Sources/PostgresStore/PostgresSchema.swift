import Logging
import PostgresNIO
import SSEGateway

/// The store's table, created on first start; documented in README ("The event store", `postgres`).
struct PostgresSchema: Sendable {
    /// The events table; its name is also the `NOTIFY` channel.
    let table: String

    /// The key of the advisory lock every append takes for its transaction, so that positions are handed out in
    /// commit order: a reader of `seq > cursor` then never skips an event that commits late.
    var appendLock: String { "\(self.table):append" }
    /// The key of the advisory lock the node that deletes old events holds meanwhile: one node at a time.
    var retentionLock: String { "\(self.table):retention" }

    /// Creates the table and its index when missing. Two nodes starting at once serialise on an advisory lock, since
    /// `CREATE TABLE IF NOT EXISTS` alone can fail when it races itself.
    func create(on client: PostgresClient, logger: Logger) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                "SELECT pg_advisory_xact_lock(hashtext(\("\(self.table):schema")))", logger: logger)
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        CREATE TABLE IF NOT EXISTS \(self.table) (
                            seq BIGSERIAL PRIMARY KEY,
                            id BYTEA NOT NULL UNIQUE,
                            topics TEXT NOT NULL,
                            data BYTEA NOT NULL,
                            type BYTEA,
                            retry BIGINT,
                            private BOOLEAN NOT NULL,
                            size INTEGER NOT NULL,
                            created TIMESTAMPTZ NOT NULL DEFAULT now()
                        )
                        """), logger: logger)
        }
    }

    /// A table name that is a plain lower-case SQL identifier, so it needs no quoting anywhere.
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.unicodeScalars.count <= 48 else { return false }
        return (first == "_" || ("a"..."z").contains(first))
            && name.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }
}
