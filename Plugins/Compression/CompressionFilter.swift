import NIOCore
import SSEGateway

/// Compresses one stream's messages through its own zlib stream.
///
/// The zlib state is released by ``release()``, which the middleware calls from the session's will-close listener;
/// after that, and after ``finish(allocator:)``, messages are dropped rather than sent uncompressed on a stream whose
/// head announced a coding. All calls happen on the stream's event loop.
final class CompressionFilter: StreamFilter {
    private enum State {
        case compressing(Deflater)
        /// The trailer is out; the zlib state still waits for ``CompressionFilter/release()``.
        case finished(Deflater)
        case released
    }

    /// The coding this filter produces.
    let coding: ContentCoding
    private var state: State

    init(coding: ContentCoding, deflater: Deflater?) {
        self.coding = coding
        self.state = deflater.map(State.compressing) ?? .released
    }

    var transformsBytes: Bool { true }

    /// Whether the zlib state has been freed.
    var isReleased: Bool {
        if case .released = self.state { return true }
        return false
    }

    func transform(_ message: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        guard case .compressing(let deflater) = self.state else { return allocator.buffer(capacity: 0) }
        return deflater.compress(message, allocator: allocator)
    }

    func finish(allocator: ByteBufferAllocator) -> ByteBuffer? {
        guard case .compressing(let deflater) = self.state else { return nil }
        self.state = .finished(deflater)
        return deflater.finish(allocator: allocator)
    }

    /// Frees the zlib state; later calls do nothing.
    func release() {
        switch self.state {
        case .compressing(let deflater), .finished(let deflater):
            self.state = .released
            deflater.end()
        case .released:
            break
        }
    }
}
