import NIOCore

/// HTTP/1.1 chunked transfer coding for an event stream whose length is unknown up front.
///
/// Framing an event directly into the buffer that carries its chunk header lets one encoded event be shared by
/// every subscriber's channel without a second copy per connection.
public enum ChunkedFrame {
    /// The last-chunk and empty trailer section that ends a chunked body cleanly.
    public static let terminator = ByteBuffer(string: "0\r\n\r\n")

    /// Width of the zero-padded size field `frameEvent` reserves; RFC 9112 allows leading zeros (1*HEXDIG).
    static let reservedSizeDigits = 8

    /// Wraps `payload` in one chunk, `<hex size>\r\n<payload>\r\n`.
    ///
    /// An empty payload yields an empty buffer: a zero-sized chunk would end the whole response body.
    public static func frame(_ payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let size = payload.readableBytes
        guard size > 0 else {
            return allocator.buffer(capacity: 0)
        }
        let digits = hexDigitCount(size)
        var buffer = allocator.buffer(capacity: digits + 2 + size + 2)
        writeHex(size, digits: digits, into: &buffer)
        buffer.writeStaticString("\r\n")
        var payload = payload
        buffer.writeBuffer(&payload)
        buffer.writeStaticString("\r\n")
        return buffer
    }

    /// Encodes `event` as one chunk in a single pass: the size field is reserved at a fixed zero-padded width and
    /// filled in once the event's length is known.
    public static func frameEvent(_ event: ServerSentEvent, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: reservedSizeDigits + 2 + event.encodedSize + 2)
        let headerStart = buffer.writerIndex
        buffer.writeRepeatingByte(UInt8(ascii: "0"), count: reservedSizeDigits)
        buffer.writeStaticString("\r\n")
        let payloadStart = buffer.writerIndex
        event.encode(into: &buffer)
        let size = buffer.writerIndex - payloadStart
        guard size <= 0xFFFF_FFFF else {
            // Too large for the reserved field; reframe rather than emit a corrupt size.
            return frame(event.encoded(allocator: allocator), allocator: allocator)
        }
        var rest = size
        var position = headerStart + reservedSizeDigits - 1
        while rest != 0 {
            buffer.setInteger(hexDigit(rest & 0xF), at: position)
            rest >>= 4
            position -= 1
        }
        buffer.writeStaticString("\r\n")
        return buffer
    }

    private static func hexDigitCount(_ value: Int) -> Int {
        var digits = 1
        var rest = value >> 4
        while rest != 0 {
            digits += 1
            rest >>= 4
        }
        return digits
    }

    private static func writeHex(_ value: Int, digits: Int, into buffer: inout ByteBuffer) {
        var shift = (digits - 1) * 4
        while shift >= 0 {
            buffer.writeInteger(hexDigit((value >> shift) & 0xF))
            shift -= 4
        }
    }

    private static func hexDigit(_ nibble: Int) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + UInt8(nibble) : UInt8(ascii: "a") + UInt8(nibble - 10)
    }
}
