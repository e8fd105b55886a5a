import Foundation

/// A parsed HTTP/1.1 response (Content-Length or close-delimited body; chunked is decoded).
struct HTTPTestResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: String

    /// Every value of `name`, in order.
    func headers(_ name: String) -> [String] {
        self.headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
    }

    func header(_ name: String) -> String? {
        self.headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    /// Returns the response and the number of bytes it used, or nil when incomplete.
    static func parse(_ bytes: [UInt8], closed: Bool) -> (HTTPTestResponse, Int)? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let headEnd = bytes.firstRange(of: separator) else { return nil }
        let headText = String(decoding: bytes[..<headEnd.lowerBound], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = HTTPTestResponse(status: status, headers: headers, body: "")
        let bodyStart = headEnd.upperBound
        if status == 204 || status == 304 {
            return (response, bodyStart)
        }
        if let length = response.header("content-length").flatMap(Int.init) {
            guard bytes.count - bodyStart >= length else { return nil }
            response.body = String(decoding: bytes[bodyStart..<bodyStart + length], as: UTF8.self)
            return (response, bodyStart + length)
        }
        if response.header("transfer-encoding")?.lowercased() == "chunked" {
            guard let (body, used) = ChunkedBody.decode(bytes[bodyStart...]), used > 0 else { return nil }
            response.body = String(decoding: body, as: UTF8.self)
            return (response, bodyStart + used)
        }
        guard closed else { return nil }
        response.body = String(decoding: bytes[bodyStart...], as: UTF8.self)
        return (response, bytes.count)
    }
}

/// Decodes a chunked body; returns the body and bytes used once the terminating chunk is seen.
enum ChunkedBody {
    static func decode(_ bytes: ArraySlice<UInt8>) -> ([UInt8], Int)? {
        var body: [UInt8] = []
        var index = bytes.startIndex
        while true {
            guard let lineEnd = bytes[index...].firstRange(of: Array("\r\n".utf8)) else { return nil }
            let sizeText = String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else { return nil }
            let dataStart = lineEnd.upperBound
            guard bytes.endIndex - dataStart >= size + 2 else { return nil }
            body.append(contentsOf: bytes[dataStart..<dataStart + size])
            index = dataStart + size + 2
            if size == 0 { return (body, index - bytes.startIndex) }
        }
    }

    /// Decodes the complete chunks present so far (for an open stream).
    static func decodePartial(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var body: [UInt8] = []
        var index = bytes.startIndex
        while let lineEnd = bytes[index...].firstRange(of: Array("\r\n".utf8)) {
            let sizeText = String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText, radix: 16) else { break }
            let dataStart = lineEnd.upperBound
            guard bytes.endIndex - dataStart >= size + 2 else { break }
            body.append(contentsOf: bytes[dataStart..<dataStart + size])
            index = dataStart + size + 2
            if size == 0 { break }
        }
        return body
    }
}
