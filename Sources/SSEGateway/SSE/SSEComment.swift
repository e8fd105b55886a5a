import NIOCore

/// SSE comment lines, which clients ignore: used for the initial `:` that flushes headers and for heartbeats that
/// keep intermediaries from closing idle connections.
public enum SSEComment {
    /// Appends `:\n` for empty text, otherwise one `: <line>\n` per line of `text`.
    ///
    /// No blank line is written by default: a comment is complete on its own and, unlike an event, needs no
    /// terminator. Pass `terminated: true` to add one anyway for peers that only flush on a blank line; an extra
    /// blank line is harmless because it dispatches nothing when no data has been buffered.
    public static func encode(_ text: String, into buffer: inout ByteBuffer, terminated: Bool = false) {
        let lf = UInt8(ascii: "\n")
        let cr = UInt8(ascii: "\r")
        if text.isEmpty {
            buffer.writeStaticString(":\n")
        } else {
            var line: [UInt8] = []
            var previousWasCR = false
            func flush(_ line: inout [UInt8]) {
                if line.isEmpty {
                    buffer.writeStaticString(":\n")
                } else {
                    buffer.writeStaticString(": ")
                    buffer.writeBytes(line)
                    buffer.writeInteger(lf)
                    line.removeAll(keepingCapacity: true)
                }
            }
            for byte in text.utf8 {
                if byte == cr {
                    flush(&line)
                    previousWasCR = true
                } else if byte == lf {
                    if !previousWasCR {
                        flush(&line)
                    }
                    previousWasCR = false
                } else {
                    line.append(byte)
                    previousWasCR = false
                }
            }
            flush(&line)
        }
        if terminated {
            buffer.writeInteger(lf)
        }
    }
}
