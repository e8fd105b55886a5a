/// Checks a token's signature and decodes its claims.
///
/// The middleware talks to JWT libraries only through this protocol, so its logic can be exercised with a fake and
/// another library (or a remote introspection endpoint) can be swapped in.
public protocol TokenVerifier: Sendable {
    /// Returns the claims of a genuine token; throws ``InvalidTokenError`` (or any error) for one that is not.
    ///
    /// Expiry and scope are checked by the middleware, not here.
    func verify(_ token: String) async throws -> MercureClaims
}

/// Why a token was refused, in one line fit for the response body; it never quotes the token.
public struct InvalidTokenError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { self.reason }
}
