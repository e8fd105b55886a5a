import NIOCore

/// The bytes of one request body as they arrive, in one buffer that grows geometrically, so that accumulating a body
/// costs time linear in its size however finely the client splits it.
///
/// A body the route does not read is only counted, so that its size limit still holds.
struct RequestBody {
    private(set) var buffer: ByteBuffer?
    private(set) var size = 0
    private let keepsBytes: Bool
    private let expectedSize: Int?

    /// - Parameters:
    ///   - keepsBytes: whether the route reads the body; otherwise it is dropped as it arrives.
    ///   - expectedSize: the `Content-Length`, when given, so the buffer is allocated once.
    init(keepsBytes: Bool, expectedSize: Int?) {
        self.keepsBytes = keepsBytes
        self.expectedSize = expectedSize
    }

    /// Adds `chunk`; call it on a body that is not also held elsewhere, or the append copies the whole buffer.
    mutating func append(_ chunk: ByteBuffer) {
        self.size += chunk.readableBytes
        guard self.keepsBytes else { return }
        var chunk = chunk
        if self.buffer == nil {
            // A fresh buffer rather than the chunk itself: the chunk is a slice of the read buffer, which the
            // first append would copy anyway, and the expected size avoids every later reallocation.
            let capacity = max(self.expectedSize ?? 0, chunk.readableBytes)
            self.buffer = ByteBufferAllocator().buffer(capacity: capacity)
        }
        self.buffer!.writeBuffer(&chunk)
    }

    /// The body as received; empty when the request had none or the route does not read it.
    var bytes: ByteBuffer {
        self.buffer ?? ByteBuffer()
    }
}
