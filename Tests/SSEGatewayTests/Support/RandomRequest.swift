/// SplitMix64: a small generator whose sequence depends only on its seed, so a failing random test can be replayed.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Requests for fuzzing the connection layer: random bytes, and well-formed requests mutated, truncated or fitted
/// with junk, so that both the decoder's errors and the admission paths behind it are reached.
enum RandomRequest {
    static let templates: [String] = [
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /.well-known/mercure?topic=a&topic=b%2F%7Bid%7D HTTP/1.1\r\nHost: x\r\nLast-Event-ID: earliest\r\n\r\n",
        "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            + "Content-Length: 21\r\n\r\ntopic=fuzz&data=hello",
        "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            + "Transfer-Encoding: chunked\r\n\r\na\r\ntopic=fuzz\r\n0\r\n\r\n",
        "HEAD /.well-known/mercure?topic=a HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
        "OPTIONS /.well-known/mercure HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\n\r\n",
    ]

    static func make(using random: inout SeededRandom) -> [UInt8] {
        let template = Array(Self.templates.randomElement(using: &random)!.utf8)
        var bytes: [UInt8]
        switch Int.random(in: 0..<5, using: &random) {
        case 0:
            bytes = (0..<Int.random(in: 1...2048, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random)
            }
        case 1:
            bytes = template
            for _ in 0..<Int.random(in: 1...8, using: &random) {
                bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
        case 2:
            bytes = Array(template.prefix(Int.random(in: 0..<template.count, using: &random)))
        case 3:
            let cut = template.firstRange(of: Array("\r\n".utf8))!.upperBound
            let junk = (0..<Int.random(in: 1...400, using: &random)).map { _ in
                UInt8.random(in: 0x20...0x7E, using: &random)
            }
            bytes = Array(template[..<cut]) + junk + Array("\r\n".utf8) + Array(template[cut...])
        default:
            let methods = ["GET", "POST", "PUT", "HEAD", "BREW", "", "G\u{0}T"]
            let versions = ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 extra", "HTTX/1.1", ""]
            var text = methods.randomElement(using: &random)! + " /"
            text += String(
                (0..<Int.random(in: 0...64, using: &random)).map { _ in
                    Character(Unicode.Scalar(UInt8.random(in: 0x21...0x7E, using: &random)))
                })
            text += " " + versions.randomElement(using: &random)! + "\r\n"
            for _ in 0..<Int.random(in: 0...6, using: &random) {
                text += [
                    "Content-Length: -1", "Content-Length: 99999999999999999999", "Transfer-Encoding: gzip",
                    "Expect: 100-continue", "Connection: upgrade", "Host:", ": novalue", "X\u{7F}: y",
                ].randomElement(using: &random)!
                text += "\r\n"
            }
            bytes = Array((text + "\r\n").utf8)
        }
        return bytes
    }
}
