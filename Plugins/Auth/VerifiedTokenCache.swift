import Synchronization

/// The claims of tokens already verified, by the token's text, so that a publisher presenting the same token on
/// every publish costs a dictionary lookup rather than a signature check (as Envoy's `jwt_cache_config`).
///
/// A token's claims depend only on its bytes and the verifier's key, so a hit is as good as a verification. Whether
/// the token is still valid (`exp`, `nbf`) is not cached: the middleware checks it against its clock every time.
/// Only genuine tokens are stored, so a client sending garbage cannot evict anything. When full, an arbitrary entry
/// makes room.
final class VerifiedTokenCache: Sendable {
    private let capacity: Int
    private let entries = Mutex<[String: MercureClaims]>([:])

    /// - Parameter capacity: the most tokens held; 0 turns the cache off.
    init(capacity: Int) {
        self.capacity = capacity
    }

    /// The claims of `token`, from the cache or from `verifier` (and then cached).
    func claims(of token: String, by verifier: any TokenVerifier) async throws -> MercureClaims {
        guard self.capacity > 0 else { return try await verifier.verify(token) }
        if let claims = self.entries.withLock({ $0[token] }) {
            return claims
        }
        let claims = try await verifier.verify(token)
        self.entries.withLock { entries in
            if entries.count >= self.capacity, entries[token] == nil {
                entries.remove(at: entries.startIndex)
            }
            entries[token] = claims
        }
        return claims
    }

    /// The claims of `token` when it has been verified before: no signature check, no suspension.
    func cachedClaims(of token: String) -> MercureClaims? {
        guard self.capacity > 0 else { return nil }
        return self.entries.withLock { $0[token] }
    }

    var count: Int { self.entries.withLock { $0.count } }
}
