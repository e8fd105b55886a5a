import CZlib
import NIOCore
import SSEGateway
import Testing

@testable import Compression

/// zlib's inflate, fed one compressed message at a time as a client would be.
private final class Inflater {
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private(set) var ended = false

    init(coding: ContentCoding) {
        self.stream.initialize(to: z_stream())
        // 15 accepts any smaller window; +16 expects a gzip wrapper.
        let status = czlib_inflateInit2(self.stream, coding == .gzip ? 15 + 16 : 15)
        precondition(status == Z_OK)
    }

    deinit {
        inflateEnd(self.stream)
        self.stream.deinitialize(count: 1)
        self.stream.deallocate()
    }

    /// Decodes `buffer` completely; fails if zlib reports an error or keeps input back.
    func inflate(_ buffer: ByteBuffer) throws -> [UInt8] {
        var input = Array(buffer.readableBytesView)
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        try input.withUnsafeMutableBufferPointer { input in
            self.stream.pointee.next_in = input.baseAddress
            self.stream.pointee.avail_in = UInt32(input.count)
            repeat {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { space in
                    self.stream.pointee.next_out = space.baseAddress
                    self.stream.pointee.avail_out = UInt32(space.count)
                    let status = CZlib.inflate(self.stream, Z_SYNC_FLUSH)
                    return (status, space.count - Int(self.stream.pointee.avail_out))
                }
                output += chunk[..<produced]
                if status == Z_STREAM_END {
                    self.ended = true
                    break
                }
                guard status == Z_OK || (status == Z_BUF_ERROR && produced == 0) else {
                    throw InflateError(status: status)
                }
            } while self.stream.pointee.avail_in > 0 || self.stream.pointee.avail_out == 0
            #expect(self.stream.pointee.avail_in == 0, "input left after the end of the stream")
        }
        return output
    }
}

private struct InflateError: Error {
    var status: Int32
}

@Suite("Compression filter on its own")
struct CompressionFilterTests {
    let allocator = ByteBufferAllocator()

    private func makeFilter(
        _ coding: ContentCoding,
        counter: LiveResourceCount,
        configuration: CompressionMiddleware.Configuration = .init()
    ) throws -> CompressionFilter {
        let deflater = try #require(Deflater(coding: coding, settings: configuration, counter: counter))
        return CompressionFilter(coding: coding, deflater: deflater)
    }

    @Test(arguments: [ContentCoding.gzip, .deflate])
    func eachMessageDecodesOnItsOwnAndTheTrailerEndsTheStream(coding: ContentCoding) throws {
        let counter = LiveResourceCount()
        let filter = try self.makeFilter(coding, counter: counter)
        #expect(filter.transformsBytes)
        #expect(counter.value == 1)
        let inflater = Inflater(coding: coding)
        let messages = [":\n"] + (1...20).map { "id: \($0)\ndata: {\"price\":\($0 * 7),\"symbol\":\"ACME\"}\n\n" }
        var compressedTotal = 0
        for message in messages {
            let output = filter.transform(ByteBuffer(string: message), allocator: self.allocator)
            compressedTotal += output.readableBytes
            #expect(String(decoding: try inflater.inflate(output), as: UTF8.self) == message)
        }
        #expect(!inflater.ended)
        let plainTotal = messages.reduce(0) { $0 + $1.utf8.count }
        #expect(
            compressedTotal < plainTotal * 3 / 4, "repetitive events should shrink: \(compressedTotal)/\(plainTotal)")
        let trailer = try #require(filter.finish(allocator: self.allocator))
        #expect(try inflater.inflate(trailer).isEmpty)
        #expect(inflater.ended)
        filter.release()
        #expect(counter.value == 0)
    }

    @Test func largeIncompressibleMessageRoundTrips() throws {
        let counter = LiveResourceCount()
        let filter = try self.makeFilter(.gzip, counter: counter)
        var generator = SystemRandomNumberGenerator()
        let message = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let inflater = Inflater(coding: .gzip)
        let output = filter.transform(ByteBuffer(bytes: message), allocator: self.allocator)
        #expect(output.readableBytes > message.count)
        #expect(try inflater.inflate(output) == message)
        let next = filter.transform(ByteBuffer(string: "data: after\n\n"), allocator: self.allocator)
        #expect(String(decoding: try inflater.inflate(next), as: UTF8.self) == "data: after\n\n")
        filter.release()
        #expect(counter.value == 0)
    }

    @Test func afterFinishOrReleaseNothingGoesOutAndReleaseHappensOnce() throws {
        let counter = LiveResourceCount()
        let filter = try self.makeFilter(.gzip, counter: counter)
        #expect(filter.transform(ByteBuffer(), allocator: self.allocator).readableBytes == 0)
        #expect(filter.finish(allocator: self.allocator) != nil)
        #expect(filter.finish(allocator: self.allocator) == nil)
        #expect(filter.transform(ByteBuffer(string: "data: x\n\n"), allocator: self.allocator).readableBytes == 0)
        #expect(!filter.isReleased)
        filter.release()
        filter.release()
        #expect(filter.isReleased)
        #expect(counter.value == 0)

        let unfinished = try self.makeFilter(.deflate, counter: counter)
        #expect(counter.value == 1)
        unfinished.release()
        #expect(counter.value == 0)
        #expect(unfinished.transform(ByteBuffer(string: "data: x\n\n"), allocator: self.allocator).readableBytes == 0)
        #expect(unfinished.finish(allocator: self.allocator) == nil)
    }

    @Test func everyLevelAndWindowRoundTrips() throws {
        let counter = LiveResourceCount()
        for (level, windowBits, memLevel) in [(0, 9, 1), (1, 10, 2), (9, 15, 9), (6, 12, 3)] {
            var configuration = CompressionMiddleware.Configuration()
            configuration.level = level
            configuration.windowBits = windowBits
            configuration.memLevel = memLevel
            let filter = try self.makeFilter(.gzip, counter: counter, configuration: configuration)
            let inflater = Inflater(coding: .gzip)
            let message = String(repeating: "data: level \(level) window \(windowBits)\n", count: 50) + "\n"
            let output = filter.transform(ByteBuffer(string: message), allocator: self.allocator)
            #expect(String(decoding: try inflater.inflate(output), as: UTF8.self) == message)
            _ = try inflater.inflate(try #require(filter.finish(allocator: self.allocator)))
            #expect(inflater.ended)
            filter.release()
        }
        #expect(counter.value == 0)
    }
}
