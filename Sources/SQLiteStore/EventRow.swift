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
            .text(Self.json(record.topics)),
            Self.blob(record.data),
            record.type.map(Self.blob) ?? .null,
            record.retry.map { .integer(Int(clamping: $0)) } ?? .null,
            .integer(record.isPrivate ? 1 : 0),
            .integer(Self.size(of: record)),
            .integer(createdAt),
        ]
    }

    /// `topics` as a JSON array of strings. Written here rather than with `JSONEncoder`, which took about a tenth of
    /// the store's share of a publish.
    static func json(_ topics: [String]) -> String {
        var json = "["
        for (index, topic) in topics.enumerated() {
            if index > 0 { json += "," }
            json += "\""
            for scalar in topic.unicodeScalars {
                switch scalar {
                case "\"": json += "\\\""
                case "\\": json += "\\\\"
                case "\n": json += "\\n"
                case "\r": json += "\\r"
                case "\t": json += "\\t"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    json += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: json.unicodeScalars.append(scalar)
                }
            }
            json += "\""
        }
        return json + "]"
    }

    /// What a row weighs against `hub.history.maxBytes`: the same measure the memory store uses.
    static func size(of record: EventRecord) -> Int {
        record.id.utf8.count + record.data.utf8.count + (record.type?.utf8.count ?? 0)
            + record.topics.reduce(0) { $0 + $1.utf8.count }
    }

    static func decode(_ row: SQLiteRow) throws -> StoredEvent {
        guard let seq = row.column("seq")?.integer, seq > 0,
            let id = row.column("id")?.blob,
            let topicsJSON = row.column("topics")?.string,
            let data = row.column("data")?.blob
        else {
            throw EventStoreError("a row of the events table is malformed: \(row)")
        }
        let topics = try JSONDecoder().decode([String].self, from: Data(topicsJSON.utf8))
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
