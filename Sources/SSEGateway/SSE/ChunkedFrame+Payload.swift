import NIOCore

extension ChunkedFrame {
    /// The payload of one chunk without its framing, sharing the chunk's storage (for streams that are not chunked).
    static func payload(of chunk: ByteBuffer) -> ByteBuffer {
        let view = chunk.readableBytesView
        guard let lineEnd = view.firstIndex(of: UInt8(ascii: "\r")) else { return chunk }
        let start = lineEnd + 2
        let length = view.endIndex - start - 2
        guard length >= 0 else { return chunk }
        return chunk.getSlice(at: start, length: length) ?? chunk
    }
}
