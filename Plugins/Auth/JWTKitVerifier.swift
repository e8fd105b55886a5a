import Foundation
import JWTKit
import Synchronization

/// Verifies Mercure tokens with vapor/jwt-kit against one key and one algorithm.
///
/// The token's `alg` header must name exactly the configured algorithm: jwt-kit verifies with whatever key it holds,
/// so without this check an `alg: none` token would reach the signature check and a token signed with a different
/// HMAC width or key type would be judged by the wrong rules.
public final class JWTKitVerifier: TokenVerifier {
    /// The only algorithm accepted.
    public let algorithm: SigningAlgorithm
    private let key: VerificationKey
    private let keys = JWTKeyCollection()
    /// The collection is an actor that can only be filled from async code; the first verification fills it.
    private let installed = Atomic<Bool>(false)

    /// Prepares a verifier.
    ///
    /// - Parameter key: the shared secret's bytes for HS256/384/512; for RS256 and ES256, a PEM public key
    ///   (`BEGIN PUBLIC KEY`) or a certificate (`BEGIN CERTIFICATE`).
    /// - Throws: ``InvalidKeyError`` when the key cannot serve `algorithm`.
    public init(algorithm: SigningAlgorithm, key: [UInt8]) throws(InvalidKeyError) {
        self.algorithm = algorithm
        self.key = try VerificationKey(algorithm: algorithm, material: key)
    }

    public func verify(_ token: String) async throws -> MercureClaims {
        let alg = try Self.headerAlgorithm(of: token)
        guard alg.lowercased() != "none" else {
            throw InvalidTokenError("unsigned tokens (alg none) are refused")
        }
        guard alg == self.algorithm.rawValue else {
            throw InvalidTokenError(
                "the token is signed with \(alg.prefix(20)); this hub expects \(self.algorithm.rawValue)")
        }
        if !self.installed.load(ordering: .acquiring) {
            // Concurrent first verifications each install the same default key, which is harmless.
            await self.key.install(in: self.keys)
            self.installed.store(true, ordering: .releasing)
        }
        let payload: MercureTokenPayload
        do {
            payload = try await self.keys.verify(token, as: MercureTokenPayload.self)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw InvalidTokenError("the signature does not match")
        } catch let error as JWTError where error.errorType == .malformedToken {
            throw InvalidTokenError("the token is malformed")
        } catch {
            throw InvalidTokenError("the token could not be verified")
        }
        if let problem = payload.problem {
            throw InvalidTokenError(problem)
        }
        return payload.claims
    }

    /// The `alg` of a compact JWS, read before any key is involved.
    static func headerAlgorithm(of token: String) throws(InvalidTokenError) -> String {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw InvalidTokenError("the token is not a compact JWS (header.payload.signature)")
        }
        guard let header = Base64URL.decode(parts[0]),
            let object = try? JSONSerialization.jsonObject(with: header) as? [String: Any]
        else {
            throw InvalidTokenError("the token's header is not base64url-encoded JSON")
        }
        guard let alg = object["alg"] as? String else {
            throw InvalidTokenError("the token's header has no alg")
        }
        return alg
    }
}
