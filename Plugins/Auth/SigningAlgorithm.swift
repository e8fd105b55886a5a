/// The JWS algorithms a key may be configured for, named as in a token's `alg` header.
///
/// `none` is deliberately absent: an unsigned token proves nothing, so it can never be configured and is refused
/// whatever the key.
public enum SigningAlgorithm: String, Sendable, CaseIterable {
    case hs256 = "HS256"
    case hs384 = "HS384"
    case hs512 = "HS512"
    case rs256 = "RS256"
    case es256 = "ES256"

    /// Whether the key is a shared secret rather than a PEM public key.
    public var isHMAC: Bool {
        switch self {
        case .hs256, .hs384, .hs512: true
        case .rs256, .es256: false
        }
    }

    /// The shortest secret RFC 7518 §3.2 allows for this HMAC: as long as the hash output.
    var minimumSecretBits: Int {
        switch self {
        case .hs256: 256
        case .hs384: 384
        case .hs512: 512
        case .rs256, .es256: 0
        }
    }
}
