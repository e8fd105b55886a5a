import CZlib
import NIOCore
import SSEGateway

/// One zlib deflate stream, producing a gzip or zlib body message by message.
///
/// Every message is compressed with `Z_SYNC_FLUSH`, so its bytes are complete on the wire and the client can decode
/// it at once; ``finish(allocator:)`` ends the body with the coding's trailer. The `z_stream` lives at a fixed address
/// because zlib keeps a pointer back to it. Confined to one event loop; ``end()`` must be called exactly once.
final class Deflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private let counter: LiveResourceCount

    /// Starts a stream; nil when zlib refuses (only when memory runs out, since settings are validated up front).
    init?(coding: ContentCoding, settings: CompressionMiddleware.Configuration, counter: LiveResourceCount) {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = czlib_deflateInit2(
            stream,
            Int32(settings.level),
            Z_DEFLATED,
            coding.zlibWindowBits(settings.windowBits),
            Int32(settings.memLevel),
            Z_DEFAULT_STRATEGY
        )
        guard status == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            return nil
        }
        self.stream = stream
        self.counter = counter
        counter.increment()
    }

    /// Compresses `message` and flushes it to a byte boundary: the result decodes completely on its own.
    func compress(_ message: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let count = message.readableBytes
        guard count > 0 else { return allocator.buffer(capacity: 0) }
        // The bound covers one complete deflate of `count` bytes with its wrapper; a sync flush adds at most an empty
        // stored block (5 bytes) on top, and the loop below grows the buffer should zlib still need more.
        var output = allocator.buffer(capacity: Int(deflateBound(self.stream, UInt(count))) + 8)
        message.withUnsafeReadableBytes { input in
            self.stream.pointee.next_in = UnsafeMutablePointer(
                mutating: input.baseAddress!.assumingMemoryBound(to: Bytef.self)
            )
            self.stream.pointee.avail_in = UInt32(input.count)
            self.drain(into: &output, flush: Z_SYNC_FLUSH)
        }
        self.stream.pointee.next_in = nil
        return output
    }

    /// The rest of the body: the last block and the coding's trailer (CRC and length for gzip, Adler-32 for zlib).
    func finish(allocator: ByteBufferAllocator) -> ByteBuffer {
        var output = allocator.buffer(capacity: 32)
        self.stream.pointee.next_in = nil
        self.stream.pointee.avail_in = 0
        self.drain(into: &output, flush: Z_FINISH)
        return output
    }

    /// Frees zlib's state; the deflater must not be used afterwards.
    func end() {
        deflateEnd(self.stream)
        self.stream.deinitialize(count: 1)
        self.stream.deallocate()
        self.counter.decrement()
    }

    /// Runs `deflate` with `flush` until it has written everything it holds, growing `output` when it fills up.
    private func drain(into output: inout ByteBuffer, flush: Int32) {
        while true {
            if output.writableBytes < 16 {
                output.reserveCapacity(minimumWritableBytes: max(64, output.capacity))
            }
            var status = Z_OK
            var filled = false
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { space in
                self.stream.pointee.next_out = space.baseAddress!.assumingMemoryBound(to: Bytef.self)
                self.stream.pointee.avail_out = UInt32(space.count)
                status = deflate(self.stream, flush)
                let remaining = Int(self.stream.pointee.avail_out)
                filled = remaining == 0
                self.stream.pointee.next_out = nil
                self.stream.pointee.avail_out = 0
                return space.count - remaining
            }
            switch status {
            case Z_STREAM_END:
                return
            case Z_OK, Z_BUF_ERROR:
                // A full buffer may hide more output; otherwise a flush is complete (Z_BUF_ERROR: nothing was left to
                // do), and only Z_FINISH must go on until Z_STREAM_END.
                if filled || (flush == Z_FINISH && status == Z_OK) { continue }
                return
            default:
                // Z_STREAM_ERROR means a corrupted state, which only a bug here can cause.
                preconditionFailure("deflate failed with status \(status)")
            }
        }
    }
}
