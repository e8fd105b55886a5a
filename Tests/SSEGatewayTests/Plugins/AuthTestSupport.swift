import CryptoExtras
import Foundation
import JWTKit
import NIOConcurrencyHelpers
import Testing

@testable import Auth
@testable import SSEGateway

/// Every auth suite, run one test at a time: they share the process-wide expiry-timer counter.
@Suite("Auth middleware", .serialized)
struct AuthTests {}

/// A token payload written independently of the plugin's own decoder, so the tests do not verify it against itself.
struct TestTokenClaims: JWTPayload {
    struct Mercure: Codable, Sendable {
        var publish: [String]?
        var subscribe: [String]?
        var payload: [String: String]?
    }

    var mercure: Mercure?
    var namespaced: Mercure?
    var exp: Double?
    var nbf: Double?

    enum CodingKeys: String, CodingKey {
        case mercure
        case namespaced = "https://mercure.rocks/"
        case exp
        case nbf
    }

    init(
        publish: [String]? = nil,
        subscribe: [String]? = nil,
        payload: [String: String]? = nil,
        namespaced: Bool = false,
        expiresIn: Double? = 3600,
        notBeforeIn: Double? = nil
    ) {
        let claim = Mercure(publish: publish, subscribe: subscribe, payload: payload)
        if namespaced {
            self.namespaced = claim
        } else {
            self.mercure = claim
        }
        self.exp = expiresIn.map { Date().timeIntervalSince1970 + $0 }
        self.nbf = notBeforeIn.map { Date().timeIntervalSince1970 + $0 }
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Keys and tokens for the live tests.
enum AuthFixture {
    /// 64 bytes, long enough for HS512 too.
    static let publisherSecret = "publisher-secret-for-tests-" + String(repeating: "p", count: 37)
    static let subscriberSecret = "subscriber-secret-for-tests-" + String(repeating: "s", count: 36)

    /// Settings with HS256 keys for both roles; `extra` adds or replaces keys.
    static func settings(_ extra: [String: JSONValue] = [:]) -> [String: JSONValue] {
        var settings: [String: JSONValue] = [
            "publisher": .object(["algorithm": .string("HS256"), "key": .string(publisherSecret)]),
            "subscriber": .object(["algorithm": .string("HS256"), "key": .string(subscriberSecret)]),
        ]
        settings.merge(extra) { _, new in new }
        return settings
    }

    static func configuration(_ extra: [String: JSONValue] = [:]) -> GatewayConfiguration {
        .testing { $0.middleware = [MiddlewareEntry(use: "auth", settings: settings(extra))] }
    }

    static func hmac(
        _ claims: TestTokenClaims,
        secret: String,
        digest: DigestAlgorithm = .sha256
    ) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: digest)
        return try await keys.sign(claims)
    }

    static func subscriberToken(_ claims: TestTokenClaims = TestTokenClaims(subscribe: ["*"])) async throws -> String {
        try await hmac(claims, secret: subscriberSecret)
    }

    static func publisherToken(_ claims: TestTokenClaims = TestTokenClaims(publish: ["*"])) async throws -> String {
        try await hmac(claims, secret: publisherSecret)
    }

    static func unsigned(_ claims: TestTokenClaims) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.addUnsecuredNone()
        return try await keys.sign(claims)
    }

    /// One RSA key pair for the whole run: generating one takes a while in a debug build.
    static let rsaKey: JWTKit.Insecure.RSA.PrivateKey = try! JWTKit.Insecure.RSA.PrivateKey(
        backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
}

/// Writes `contents` to a new file in the temporary directory and returns its path.
func writeTemporaryFile(_ contents: String, name: String) throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("auth-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let url = directory.appendingPathComponent(name)
    try contents.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

extension RawClient {
    /// Sends a subscribe request and returns the answer's status, headers and, for a refusal, its body; an accepted
    /// stream is closed as soon as its head has arrived.
    static func subscribeResponse(
        port: Int,
        query: String = "topic=t",
        headers: [String] = []
    ) async throws -> HTTPTestResponse {
        let client = try await RawClient.connect(port: port)
        try await client.sendRequest("GET", "/.well-known/mercure?\(query)", headers: headers)
        let head = try await client.waitFor(text: "\r\n\r\n")
        let response: HTTPTestResponse
        if head.hasPrefix("HTTP/1.1 200") {
            let lines = head.components(separatedBy: "\r\n\r\n")[0].components(separatedBy: "\r\n")
            response = HTTPTestResponse(
                status: 200,
                headers: lines.dropFirst().compactMap { line in
                    guard let colon = line.firstIndex(of: ":") else { return nil }
                    return (
                        String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    )
                }, body: "")
        } else {
            response = try await client.readResponse()
        }
        try? await client.close()
        return response
    }
}
