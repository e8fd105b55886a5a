import NIOHTTP1

/// What a client's `Accept-Encoding` fields say it accepts (RFC 9110 §12.5.3), and the choice of coding they lead to.
///
/// Qualities are kept in thousandths, the precision the grammar allows, so that comparisons are exact.
struct AcceptEncoding: Equatable {
    /// Quality of each coding the client named (lowercased, `x-gzip` read as `gzip`), `*` included; the first
    /// mention of a coding counts.
    private(set) var qualities: [String: Int] = [:]

    /// Parses the values of every `Accept-Encoding` field of a request. Elements that do not parse (a bad `q`) are
    /// ignored rather than guessed at.
    init(fieldValues: [String]) {
        for value in fieldValues {
            for element in value.split(separator: ",") {
                guard let (coding, quality) = Self.parseElement(element) else { continue }
                if self.qualities[coding] == nil { self.qualities[coding] = quality }
            }
        }
    }

    /// The coding to send to a client whose request has `headers`, chosen among `offered` (the server's preference
    /// order, which breaks ties).
    ///
    /// Compression stays off unless the client asks for it: without the field, identity is chosen, although
    /// RFC 9110 would allow any coding. When the client excludes identity and accepts nothing that is offered
    /// (`identity;q=0, br`), identity is still chosen: refusing an event stream with 406 would leave the client
    /// with nothing, and the RFC lets a server ignore the field rather than refuse.
    static func negotiate(_ headers: HTTPHeaders, offered: [ContentCoding]) -> ContentCoding {
        let values = headers["Accept-Encoding"]
        guard !values.isEmpty else { return .identity }
        return AcceptEncoding(fieldValues: values).choose(among: offered)
    }

    /// The best of `offered` by the client's qualities, earlier ones winning ties; identity when none is acceptable
    /// or when the client prefers identity outright (`identity, gzip;q=0.5`).
    func choose(among offered: [ContentCoding]) -> ContentCoding {
        var best: (coding: ContentCoding, quality: Int)?
        for coding in offered where coding != .identity {
            guard let quality = self.quality(of: coding), quality > 0 else { continue }
            if quality > best?.quality ?? 0 { best = (coding, quality) }
        }
        guard let best else { return .identity }
        if let identity = self.quality(of: .identity), identity > best.quality { return .identity }
        return best.coding
    }

    /// The client's quality for `coding`: named, else through `*`; nil when neither is listed.
    func quality(of coding: ContentCoding) -> Int? {
        self.qualities[coding.rawValue] ?? self.qualities["*"]
    }

    /// `coding *( OWS ";" OWS name "=" value )`, returning the lowercased coding and its quality in thousandths.
    private static func parseElement(_ element: Substring) -> (String, Int)? {
        var parts = element.split(separator: ";", omittingEmptySubsequences: false).makeIterator()
        guard let first = parts.next() else { return nil }
        var coding = first.trimmingWhitespace().lowercased()
        guard !coding.isEmpty, !coding.contains(where: { $0 == " " || $0 == "\t" || $0 == "=" }) else { return nil }
        if coding == "x-gzip" { coding = "gzip" }
        var quality = 1000
        while let parameter = parts.next() {
            let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2 else { return nil }
            guard pair[0].trimmingWhitespace().lowercased() == "q" else { continue }
            guard let parsed = Self.parseQuality(pair[1].trimmingWhitespace()) else { return nil }
            quality = parsed
        }
        return (coding, quality)
    }

    /// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
    static func parseQuality(_ text: Substring) -> Int? {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return nil }
        var value = Int(first - UInt8(ascii: "0")) * 1000
        guard bytes.count > 1 else { return value }
        guard bytes[1] == UInt8(ascii: "."), bytes.count <= 5 else { return nil }
        var scale = 100
        for byte in bytes[2...] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value += Int(byte - UInt8(ascii: "0")) * scale
            scale /= 10
        }
        return value <= 1000 ? value : nil
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }
}
