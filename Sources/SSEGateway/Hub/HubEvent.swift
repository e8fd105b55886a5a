import NIOCore

/// A published update as the hub keeps it: framed once, then shared by every delivery and by replay.
struct HubEvent: Sendable {
    /// Position in the hub's publish order; replay and live delivery meet on it without gap or duplicate.
    let sequence: UInt64
    let id: String
    let topics: [String]
    let isPrivate: Bool
    /// The event as one HTTP/1.1 chunk, written as is to chunked streams.
    let chunk: ByteBuffer
    /// The event without chunk framing, for HTTP/1.0 streams (a slice of `chunk`, no copy).
    let payload: ByteBuffer
}
