import NIOCore

/// One event of a `text/event-stream`, framed the way the Mercure hub frames updates.
///
/// Subscribers are browsers' `EventSource` and other WHATWG-conforming parsers, so the encoding follows the
/// WHATWG "event stream interpretation" rules exactly: every line of `data` becomes its own `data:` field (CRLF,
/// CR and LF all count as one line break) and the event ends with a blank line.
public struct ServerSentEvent: Sendable, Equatable {
    /// Becomes the subscriber's `lastEventId`, which it sends back on reconnect to resume the stream.
    public var id: String?
    /// Lets clients route events to specific listeners; `nil` or empty leaves the default `message` type.
    public var type: String?
    /// Reconnection delay in milliseconds suggested to the client; `nil` or zero sends nothing.
    public var retry: UInt64?
    /// The payload, delivered to the client with its line breaks normalised to LF.
    public var data: String

    /// Creates an event; every field is optional on the wire except `data`, which is always framed.
    public init(id: String? = nil, type: String? = nil, retry: UInt64? = nil, data: String) {
        self.id = id
        self.type = type
        self.retry = retry
        self.data = data
    }

    /// The exact number of bytes `encode(into:)` writes, so callers can size buffers once.
    public var encodedSize: Int {
        var size = 0
        if let type, !type.isEmpty {
            size += 7 + type.utf8.count + 1  // "event: " … "\n"
        }
        if let retry, retry != 0 {
            size += 7 + Self.decimalDigitCount(retry) + 1  // "retry: " … "\n"
        }
        if let id {
            size += 4 + id.utf8.count + 1  // "id: " … "\n"
        }
        let dataBytes = data.utf8.count
        let lines = Self.lineBreakCount(data) + 1
        // Every line costs "data: " plus "\n"; the line breaks themselves are replaced by those "\n".
        size += lines * 7 + dataBytes - Self.lineBreakByteCount(data)
        return size + 1  // the blank line that dispatches the event
    }

    /// Appends the event, terminated by the blank line that makes clients dispatch it.
    ///
    /// `id` and `type` are validated upstream, but a CR, LF or NUL in them would let a publisher inject fields or
    /// whole events into other subscribers' streams, so such bytes are written as spaces.
    public func encode(into buffer: inout ByteBuffer) {
        if let type, !type.isEmpty {
            buffer.writeStaticString("event: ")
            Self.writeFieldValue(type, into: &buffer)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        if let retry, retry != 0 {
            buffer.writeStaticString("retry: ")
            Self.writeDecimal(retry, into: &buffer)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        if let id {
            buffer.writeStaticString("id: ")
            Self.writeFieldValue(id, into: &buffer)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        Self.writeDataLines(data, into: &buffer)
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    /// The encoded event in a fresh buffer, for callers that do not already hold one.
    public func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: encodedSize)
        encode(into: &buffer)
        return buffer
    }

    // MARK: - Helpers

    static func writeDataLines(_ data: String, into buffer: inout ByteBuffer) {
        let done: Void? = data.utf8.withContiguousStorageIfAvailable { bytes in
            writeDataLines(bytes, into: &buffer)
        }
        if done == nil {
            let bytes = Array(data.utf8)
            bytes.withUnsafeBufferPointer { writeDataLines($0, into: &buffer) }
        }
    }

    private static func writeDataLines(_ bytes: UnsafeBufferPointer<UInt8>, into buffer: inout ByteBuffer) {
        let cr = UInt8(ascii: "\r")
        let lf = UInt8(ascii: "\n")
        var lineStart = 0
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            if byte == lf || byte == cr {
                buffer.writeStaticString("data: ")
                buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[lineStart..<index])))
                buffer.writeInteger(lf)
                if byte == cr, index + 1 < count, bytes[index + 1] == lf {
                    index += 2
                } else {
                    index += 1
                }
                lineStart = index
            } else {
                index += 1
            }
        }
        buffer.writeStaticString("data: ")
        buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[lineStart..<count])))
        buffer.writeInteger(lf)
    }

    /// Writes a single-line field value, turning any CR, LF or NUL into a space.
    static func writeFieldValue(_ value: String, into buffer: inout ByteBuffer) {
        if !value.utf8.contains(where: isUnsafeFieldByte) {
            buffer.writeString(value)
            return
        }
        for byte in value.utf8 {
            buffer.writeInteger(isUnsafeFieldByte(byte) ? UInt8(ascii: " ") : byte)
        }
    }

    private static func isUnsafeFieldByte(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") || byte == 0
    }

    private static func lineBreakCount(_ data: String) -> Int {
        var breaks = 0
        var previousWasCR = false
        for byte in data.utf8 {
            if byte == UInt8(ascii: "\r") {
                breaks += 1
                previousWasCR = true
            } else {
                if byte == UInt8(ascii: "\n") && !previousWasCR {
                    breaks += 1
                }
                previousWasCR = false
            }
        }
        return breaks
    }

    private static func lineBreakByteCount(_ data: String) -> Int {
        var count = 0
        for byte in data.utf8 where byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") {
            count += 1
        }
        return count
    }

    static func decimalDigitCount(_ value: UInt64) -> Int {
        var digits = 1
        var rest = value / 10
        while rest != 0 {
            digits += 1
            rest /= 10
        }
        return digits
    }

    static func writeDecimal(_ value: UInt64, into buffer: inout ByteBuffer) {
        let digits = decimalDigitCount(value)
        var rest = value
        // Fill right to left in place, avoiding a temporary String.
        let start = buffer.writerIndex
        buffer.writeRepeatingByte(UInt8(ascii: "0"), count: digits)
        var position = start + digits - 1
        while position >= start {
            buffer.setInteger(UInt8(ascii: "0") + UInt8(rest % 10), at: position)
            rest /= 10
            position -= 1
        }
    }
}
