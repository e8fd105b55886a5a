import NIOCore
import NIOHTTP1
import Testing

@testable import Compression
@testable import SSEGateway

@Suite("Accept-Encoding negotiation")
struct CompressionNegotiationTests {
    private static func choose(_ fields: [String]?, offered: [ContentCoding] = ContentCoding.compressing)
        -> ContentCoding
    {
        var headers = HTTPHeaders()
        for field in fields ?? [] { headers.add(name: "Accept-Encoding", value: field) }
        return AcceptEncoding.negotiate(headers, offered: offered)
    }

    @Test(
        arguments: [
            (nil, ContentCoding.identity),
            ([""], .identity),
            (["gzip"], .gzip),
            (["x-gzip"], .gzip),
            (["GZip"], .gzip),
            (["deflate"], .deflate),
            (["br"], .identity),
            (["gzip, deflate, br"], .gzip),
            (["deflate, gzip"], .gzip),
            (["gzip;q=0, deflate"], .deflate),
            (["gzip ; q=0.5 , deflate ; Q=0.6"], .deflate),
            (["deflate;q=0.5", "gzip;q=0.9"], .gzip),
            (["gzip;q=0.001"], .gzip),
            (["*"], .gzip),
            (["*;q=0.5, gzip;q=0"], .deflate),
            (["*;q=0"], .identity),
            (["identity"], .identity),
            (["identity, gzip;q=0.5"], .identity),
            (["identity;q=0.5, gzip"], .gzip),
            (["identity;q=0.5, gzip;q=0.5"], .gzip),
            (["identity;q=0"], .identity),
            (["identity;q=0, br"], .identity),
            (["gzip;q=2, deflate"], .deflate),
            (["gzip;q=0.0001, deflate;q=0.2"], .deflate),
            (["gzip;q=, deflate;q=0.2"], .deflate),
            (["gzip;level=9"], .gzip),
            (["gzip;q=0", "gzip"], .identity),
        ] as [([String]?, ContentCoding)])
    func choosesByQualityPreferringTheServerOrderOnTies(fields: [String]?, expected: ContentCoding) {
        #expect(Self.choose(fields) == expected)
    }

    @Test func theServerOrderBreaksTies() {
        #expect(Self.choose(["gzip, deflate"], offered: [.deflate, .gzip]) == .deflate)
        #expect(Self.choose(["gzip;q=0.9, deflate;q=0.8"], offered: [.deflate, .gzip]) == .gzip)
        #expect(Self.choose(["gzip"], offered: [.deflate]) == .identity)
    }

    @Test(arguments: [
        ("0", 0), ("0.", 0), ("0.5", 500), ("0.123", 123), ("1", 1000), ("1.000", 1000), ("1.", 1000),
    ])
    func parsesQualities(text: String, thousandths: Int) {
        #expect(AcceptEncoding.parseQuality(Substring(text)) == thousandths)
    }

    @Test(arguments: ["", "2", "0.1234", "1.5", "1.001", ".5", "0,5", "-0", "0.a"])
    func rejectsMalformedQualities(text: String) {
        #expect(AcceptEncoding.parseQuality(Substring(text)) == nil)
    }
}

@Suite("Compression negotiation over loopback")
struct CompressionNegotiationLiveTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var acceptEncoding: String?
        var expected: ContentCoding
        var testDescription: String { "\(self.acceptEncoding ?? "(absent)") → \(self.expected)" }
    }

    @Test(arguments: [
        Case(acceptEncoding: nil, expected: .identity),
        Case(acceptEncoding: "gzip;q=0, deflate", expected: .deflate),
        Case(acceptEncoding: "identity", expected: .identity),
        Case(acceptEncoding: "deflate;q=0.5, gzip;q=0.8", expected: .gzip),
        Case(acceptEncoding: "gzip;q=0.4, deflate;q=0.6", expected: .deflate),
        Case(acceptEncoding: "deflate, gzip", expected: .gzip),
        Case(acceptEncoding: "*", expected: .gzip),
        Case(acceptEncoding: "identity;q=0", expected: .identity),
    ])
    func headAnnouncesTheChoiceAndAlwaysVaries(testCase: Case) async throws {
        let compression = CompressionMiddleware()
        let collector = SessionCollector()
        try await TestGateway.run(middleware: [collector, compression]) { _, port in
            let client = try await RawClient.connect(port: port)
            let headers = testCase.acceptEncoding.map { ["Accept-Encoding: \($0)"] } ?? []
            try await client.sendRequest("GET", "/.well-known/mercure?topic=a", headers: headers)
            try await client.waitFor("the head and the opening chunk") { bytes, _ in
                guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { return false }
                return Self.firstChunk(of: bytes[end.upperBound...]) != nil
            }
            let session = try #require(collector.sessions.withLockedValue { $0.first })
            #expect(session[CompressionMiddleware.Negotiated.self] == testCase.expected)
            let bytes = try await client.received
            let headEnd = try #require(bytes.firstRange(of: Array("\r\n\r\n".utf8)))
            let head = String(decoding: bytes[..<headEnd.upperBound], as: UTF8.self)
            let body = bytes[headEnd.upperBound...]
            let firstChunk = try #require(Self.firstChunk(of: body))
            #expect(head.hasPrefix("HTTP/1.1 200 OK"))
            #expect(head.contains("\r\nVary: Accept-Encoding\r\n"))
            switch testCase.expected {
            case .identity:
                #expect(!head.lowercased().contains("content-encoding"))
                #expect(Array(body) == Array("2\r\n:\n\r\n".utf8))
                #expect(compression.liveStreams == 0)
            case .gzip:
                #expect(head.contains("\r\nContent-Encoding: gzip\r\n"))
                #expect(firstChunk.starts(with: [0x1f, 0x8b, 0x08]), "gzip magic and method")
                #expect(compression.liveStreams == 1)
            case .deflate:
                #expect(head.contains("\r\nContent-Encoding: deflate\r\n"))
                // A zlib header: deflate method, and a check value making the first two bytes a multiple of 31.
                #expect(firstChunk.count > 2)
                #expect(firstChunk.first.map { $0 & 0x0f } == 8)
                #expect(firstChunk.count > 2 && (UInt16(firstChunk[0]) << 8 | UInt16(firstChunk[1])) % 31 == 0)
                #expect(compression.liveStreams == 1)
            }
        }
        #expect(compression.liveStreams == 0)
    }

    /// The payload of the first chunk of a chunked body, once it has arrived whole.
    private static func firstChunk(of body: ArraySlice<UInt8>) -> [UInt8]? {
        guard let lineEnd = body.firstRange(of: Array("\r\n".utf8)),
            let size = Int(String(decoding: body[..<lineEnd.lowerBound], as: UTF8.self), radix: 16),
            body.count >= body.distance(from: body.startIndex, to: lineEnd.upperBound) + size + 2
        else { return nil }
        return Array(body[lineEnd.upperBound..<(lineEnd.upperBound + size)])
    }

    @Test func headRequestGetsTheSameHeadersWithoutAStream() async throws {
        let compression = CompressionMiddleware()
        try await TestGateway.run(middleware: [compression]) { _, port in
            let client = try await RawClient.connect(port: port)
            try await client.sendRequest("HEAD", "/.well-known/mercure?topic=a", headers: ["Accept-Encoding: gzip"])
            let head = try await client.waitFor(text: "\r\n\r\n")
            #expect(head.contains("\r\nContent-Encoding: gzip\r\n"))
            #expect(head.contains("\r\nVary: Accept-Encoding\r\n"))
            #expect(compression.liveStreams == 0)
        }
    }

    @Test func anExistingVaryIsKeptAndAcceptEncodingAdded() async throws {
        try await TestGateway.run(middleware: [VaryOrigin(), CompressionMiddleware()]) { _, port in
            let client = try await RawClient.connect(port: port)
            try await client.sendRequest("GET", "/.well-known/mercure?topic=a", headers: ["Accept-Encoding: gzip"])
            let head = try await client.waitFor(text: "\r\n\r\n")
            #expect(head.contains("\r\nVary: Origin\r\n"))
            #expect(head.contains("\r\nVary: Accept-Encoding\r\n"))
        }
    }
}

/// Adds `Vary: Origin` as a CORS middleware would.
private struct VaryOrigin: Middleware {
    func connect(_ session: Session) async throws {
        session.responseHeaders.add(name: "Vary", value: "Origin")
    }
}
