public import Foundation
public import SSEGateway

/// What a verified Mercure token says: the `mercure` claim (or its namespaced fallback `https://mercure.rocks/`)
/// and the registered time claims.
///
/// A verifier only vouches that the token is genuine; whether it is still valid and what it allows is decided by the
/// middleware, so that one clock rules every check.
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
}
