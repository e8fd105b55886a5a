import NIOHTTP1
import SSEGateway

/// Why a request is refused, shaped as RFC 6750 §3 asks (the 1.0 Mercure behaviour): every refusal names the
/// `Bearer` scheme, and carries an error code when the client did present something.
enum AuthFailure: Error, Equatable {
    /// No usable credentials (none sent, or sent where they are not trusted): 401 `Bearer`.
    case unauthorized(String)
    /// A token was sent but is not genuine, not valid now, or not readable: 401 `Bearer error="invalid_token"`.
    case invalidToken(String)
    /// A genuine token that does not grant what the request needs: 403 `Bearer error="insufficient_scope"`.
    case insufficientScope(String)
    /// The credentials were sent in a way that cannot be interpreted: 400 `Bearer error="invalid_request"`.
    case invalidRequest(String)

    var rejection: HTTPRejection {
        switch self {
        case .unauthorized(let reason):
            HTTPRejection(.unauthorized, reason: reason, headers: ["WWW-Authenticate": "Bearer"])
        case .invalidToken(let reason):
            HTTPRejection(
                .unauthorized, reason: "invalid token: \(reason)",
                headers: ["WWW-Authenticate": #"Bearer error="invalid_token""#])
        case .insufficientScope(let reason):
            HTTPRejection(
                .forbidden, reason: reason, headers: ["WWW-Authenticate": #"Bearer error="insufficient_scope""#])
        case .invalidRequest(let reason):
            HTTPRejection(
                .badRequest, reason: reason, headers: ["WWW-Authenticate": #"Bearer error="invalid_request""#])
        }
    }
}
