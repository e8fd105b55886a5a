public import NIOCore

/// Reads a `text/event-stream` the way a browser's `EventSource` does (WHATWG HTML, "Interpreting an event stream"),
/// incrementally, from bytes that arrive in arbitrary pieces: what an upstream SSE backend sends, turned into events
/// that the gateway's filters and streams handle like the hub's own.
///
/// Written by hand: NIO and the server libraries parse HTTP, not the event-stream format. Lines end with CRLF, LF or
/// CR (a CR at the end of one piece waits for the next to see whether an LF follows); a leading UTF-8 BOM is
/// dropped; invalid UTF-8 becomes U+FFFD; comments and unknown fields are ignored.
public struct SSEParser: Sendable {
    /// One dispatched block of fields. Unlike `EventSource`, which keeps only what it dispatches, it also reports a
    /// block without `data` that sets `id` or `retry`, so that a proxy can pass those on unchanged.
    public struct Message: Sendable, Equatable {
        /// The block's `id` field (the last one, without NUL), or nil when it had none; empty resets the cursor.
        public var id: String?
        /// The block's `event` field, or nil (`message`).
        public var type: String?
        /// The `data` lines joined with LF, or nil when the block had no `data` field (nothing is dispatched).
        public var data: String?
        /// The block's `retry` field, when it was all ASCII digits.
        public var retry: UInt64?

        public init(id: String? = nil, type: String? = nil, data: String? = nil, retry: UInt64? = nil) {
            self.id = id
            self.type = type
            self.data = data
            self.retry = retry
        }
    }

    private var line: [UInt8] = []
    private var afterCR = false
    private var atStart = true
    private var block = Message()
    private var dataLines: [String] = []
    private var hasFields = false

    public init() {}

    /// Parses the next piece of the stream and returns the blocks it completed, in order.
    public mutating func feed(_ buffer: ByteBuffer) -> [Message] {
        var messages: [Message] = []
        buffer.withUnsafeReadableBytes { bytes in
            var index = bytes.startIndex
            if self.atStart {
                // The BOM may itself arrive in pieces: hold the first bytes until three are in or one differs.
                while index < bytes.endIndex, self.atStart {
                    self.line.append(bytes[index])
                    index += 1
                    let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
                    if self.line == bom {
                        self.line.removeAll()
                        self.atStart = false
                    } else if !bom.starts(with: self.line) {
                        let held = self.line
                        self.line.removeAll()
                        self.atStart = false
                        for byte in held { self.consume(byte, into: &messages) }
                    }
                }
            }
            while index < bytes.endIndex {
                self.consume(bytes[index], into: &messages)
                index += 1
            }
        }
        return messages
    }

    private mutating func consume(_ byte: UInt8, into messages: inout [Message]) {
        switch byte {
        case UInt8(ascii: "\n"):
            if self.afterCR {
                self.afterCR = false  // the LF of a CRLF: the line already ended
            } else {
                self.endLine(into: &messages)
            }
        case UInt8(ascii: "\r"):
            self.afterCR = true
            self.endLine(into: &messages)
        default:
            self.afterCR = false
            self.line.append(byte)
        }
    }

    private mutating func endLine(into messages: inout [Message]) {
        defer { self.line.removeAll(keepingCapacity: true) }
        guard !self.line.isEmpty else {
            self.dispatch(into: &messages)
            return
        }
        if self.line[0] == UInt8(ascii: ":") { return }
        let name: String
        let value: String
        if let colon = self.line.firstIndex(of: UInt8(ascii: ":")) {
            name = String(decoding: self.line[..<colon], as: UTF8.self)
            var start = colon + 1
            if start < self.line.endIndex, self.line[start] == UInt8(ascii: " ") { start += 1 }
            value = String(decoding: self.line[start...], as: UTF8.self)
        } else {
            name = String(decoding: self.line, as: UTF8.self)
            value = ""
        }
        switch name {
        case "event":
            self.block.type = value
            self.hasFields = true
        case "data":
            self.dataLines.append(value)
            self.hasFields = true
        case "id":
            if !value.utf8.contains(0) {
                self.block.id = value
                self.hasFields = true
            }
        case "retry":
            if !value.isEmpty, value.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                let retry = UInt64(value)
            {
                self.block.retry = retry
                self.hasFields = true
            }
        default:
            break  // unknown fields are ignored
        }
    }

    private mutating func dispatch(into messages: inout [Message]) {
        defer {
            self.block = Message()
            self.dataLines.removeAll()
            self.hasFields = false
        }
        guard self.hasFields else { return }
        var message = self.block
        if !self.dataLines.isEmpty {
            message.data = self.dataLines.joined(separator: "\n")
        }
        // Like EventSource: an event type alone dispatches nothing.
        guard message.data != nil || message.id != nil || message.retry != nil else { return }
        messages.append(message)
    }
}
