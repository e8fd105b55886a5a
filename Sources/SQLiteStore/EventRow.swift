import Foundation
import NIOCore
import SQLiteNIO
import SSEGateway

/// How an event is laid out in the `events` table, and read back.
///
/// Ids, data and types are BLOBs: compared and returned byte for byte (a TEXT column would be cut at a NUL when
/// read back), so uniqueness is on the exact bytes, as the hub compares ids. Topics are a JSON array, readable with
/// the `sqlite3` shell.
enum EventRow {
    static let columns = "seq, id, topics, data, type, retry, private"

    static func blob(_ string: String) -> SQLiteData {
        .blob(ByteBuffer(string: string))
    }

    static func binds(_ record: EventRecord, createdAt: Int) -> [SQLiteData] {
        [
            Self.blob(record.id),
            .text(record.topicsJSON),
            Self.blob(record.data),
            record.type.map(Self.blob) ?? .null,
            record.retry.map { .integer(Int(clamping: $0)) } ?? .null,
            .integer(record.isPrivate ? 1 : 0),
            .integer(record.size),
            .integer(createdAt),
        ]
    }

    static func decode(_ row: SQLiteRow) throws -> StoredEvent {
        guard let seq = row.column("seq")?.integer, seq > 0,
            let id = row.column("id")?.blob,
            let topicsJSON = row.column("topics")?.string,
            let data = row.column("data")?.blob
        else {
            throw EventStoreError("a row of the events table is malformed: \(row)")
        }
        let topics = try EventRecord.topics(fromJSON: topicsJSON)
        return StoredEvent(
            position: UInt64(seq),
            record: EventRecord(
                id: String(buffer: id),
                topics: topics,
                data: String(buffer: data),
                type: row.column("type")?.blob.map { String(buffer: $0) },
                retry: row.column("retry")?.integer.map { UInt64(clamping: $0) },
                isPrivate: row.column("private")?.integer == 1
            )
        )
    }
}
