public import Foundation
public import SSEGateway

/// What a verified Mercure token says: the `mercure` claim (or its namespaced fallback `https://mercure.rocks/`)
/// and the registered time claims.
///
/// A verifier only vouches that the token is genuine; whether it is still valid and what it allows is decided by the
/// middleware, so that one clock rules every check.
///
/// Selectors compare on their UTF-8 bytes, as the hub matches them: two tokens whose selectors differ only in Unicode
/// normalisation grant different topics, so they are not equal.
public struct MercureClaims: Sendable, Equatable {
    /// `mercure.publish`: the topic selectors a publisher may publish to; nil when the claim is absent.
    public var publish: [String]?
    /// `mercure.subscribe`: the selectors of private updates a subscriber may receive; nil when absent.
    public var subscribe: [String]?
    /// `mercure.payload`: anything the issuer wants attached to the subscription.
    public var payload: JSONValue?
    /// `exp`.
    public var expiresAt: Date?
    /// `nbf`.
    public var notBefore: Date?

    public init(
        publish: [String]? = nil,
        subscribe: [String]? = nil,
        payload: JSONValue? = nil,
        expiresAt: Date? = nil,
        notBefore: Date? = nil
    ) {
        self.publish = publish
        self.subscribe = subscribe
        self.payload = payload
        self.expiresAt = expiresAt
        self.notBefore = notBefore
    }

    /// Selectors byte for byte, the rest by value.
    public static func == (lhs: MercureClaims, rhs: MercureClaims) -> Bool {
        sameSelectors(lhs.publish, rhs.publish) && sameSelectors(lhs.subscribe, rhs.subscribe)
            && lhs.payload == rhs.payload && lhs.expiresAt == rhs.expiresAt && lhs.notBefore == rhs.notBefore
    }

    private static func sameSelectors(_ lhs: [String]?, _ rhs: [String]?) -> Bool {
        guard let lhs, let rhs else {
            return lhs == nil && rhs == nil
        }
        return lhs.count == rhs.count && zip(lhs, rhs).allSatisfy { $0.utf8.elementsEqual($1.utf8) }
    }
}
