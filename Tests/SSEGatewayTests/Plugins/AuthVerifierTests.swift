import Crypto
import Foundation
import Testing

@testable import Auth
@testable import SSEGateway

extension AuthTests {
    @Suite("JWTKitVerifier and request parsing")
    struct VerifierTests {
        /// Signs HS256 without jwt-kit, which refuses keys shorter than the hash output.
        static func hs256(_ payload: String, secret: String) -> String {
            func encode(_ data: some DataProtocol) -> String {
                Data(data).base64EncodedString().replacingOccurrences(of: "=", with: "")
                    .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            }
            let input = encode(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8)) + "." + encode(Data(payload.utf8))
            let mac = HMAC<SHA256>.authenticationCode(
                for: Data(input.utf8), using: SymmetricKey(data: Data(secret.utf8)))
            return input + "." + encode(Data(mac))
        }

        @Test func shortSecretsStillVerifyTokensSignedWithThem() async throws {
            let verifier = try JWTKitVerifier(algorithm: .hs256, key: Array("!ChangeMe!".utf8))
            let payload =
                #"{"mercure":{"subscribe":["a"],"payload":{"n":1.5,"ok":true,"list":[null]}},"exp":4102444800}"#
            let claims = try await verifier.verify(Self.hs256(payload, secret: "!ChangeMe!"))
            #expect(claims.subscribe == ["a"])
            #expect(claims.publish == nil)
            #expect(
                claims.payload == .object(["n": .number(1.5), "ok": .bool(true), "list": .array([.null])]))
            #expect(claims.expiresAt == Date(timeIntervalSince1970: 4_102_444_800))
            await #expect(throws: InvalidTokenError("the signature does not match")) {
                try await verifier.verify(Self.hs256(payload, secret: "!ChangeMe!!"))
            }
        }

        @Test func theMercureClaimWinsOverTheNamespacedOne() async throws {
            let verifier = try JWTKitVerifier(algorithm: .hs256, key: Array("!ChangeMe!".utf8))
            let both = #"{"mercure":{"publish":["a"]},"https://mercure.rocks/":{"publish":["b"]}}"#
            #expect(try await verifier.verify(Self.hs256(both, secret: "!ChangeMe!")).publish == ["a"])
            let badExpiry = #"{"mercure":{"publish":["a"]},"exp":"tomorrow"}"#
            await #expect(throws: InvalidTokenError("the exp claim must be a number of seconds since 1970")) {
                try await verifier.verify(Self.hs256(badExpiry, secret: "!ChangeMe!"))
            }
            await #expect(throws: InvalidTokenError("the mercure claim must be an object")) {
                try await verifier.verify(Self.hs256(#"{"mercure":["a"]}"#, secret: "!ChangeMe!"))
            }
        }

        @Test func originsAreComparedInCanonicalForm() {
            #expect(OriginPolicy.normalize("HTTPS://Example.COM:443") == "https://example.com")
            #expect(OriginPolicy.normalize("http://localhost:3000/") == "http://localhost:3000")
            #expect(OriginPolicy.normalize("https://example.com/path") == nil)
            #expect(OriginPolicy.normalize("null") == nil)
            #expect(OriginPolicy.origin(ofURL: "https://example.com:8443/a?b#c") == "https://example.com:8443")
        }

        @Test func bearerAndCookieParsing() {
            #expect(TokenPresentation.bearerToken("Bearer abc") == "abc")
            #expect(TokenPresentation.bearerToken("BEARER   abc") == "abc")
            #expect(TokenPresentation.bearerToken("Bearer") == nil)
            #expect(TokenPresentation.bearerToken("Basic abc") == nil)
            #expect(TokenPresentation.bearerToken("  bEaReR a.b.c  ") == "a.b.c")
            #expect(TokenPresentation.bearerToken("Bearer a b") == nil)
            #expect(TokenPresentation.bearerToken("Bearers abc") == nil)
            #expect(TokenPresentation.bearerToken("Bearer ") == nil)
            #expect(TokenPresentation.bearerToken("") == nil)
            #expect(TokenPresentation.bearerToken("Béarer abc") == nil)
            let request = RequestFacts(
                method: .GET, uri: "/", path: "/", query: [],
                headers: ["Cookie": "a=1; mercureAuthorization=\"t.o.k\" ", "cookie": "mercureAuthorization=late"],
                remoteAddress: nil, version: .http1_1)
            #expect(TokenPresentation.cookie(named: "mercureAuthorization", in: request) == "t.o.k")
            #expect(TokenPresentation.cookie(named: "A", in: request) == nil)
        }
    }
}
