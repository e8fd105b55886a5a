import Foundation
import SSEGateway

/// The CSRF check for publishes authenticated by cookie: a browser attaches the cookie to a form post from any site,
/// so such a publish is accepted only when its `Origin` (or, failing that, its `Referer`'s origin) is listed.
struct OriginPolicy: Sendable {
    private let allowed: Set<String>
    private let allowsAny: Bool

    /// `origins` holds origins as ``normalize(_:)`` accepts them, or `*` for any.
    init(origins: [String]) {
        self.allowsAny = origins.contains("*")
        self.allowed = Set(origins.compactMap(Self.normalize))
    }

    /// Refuses a request whose origin is unknown or not listed.
    func check(_ request: RequestFacts) -> AuthFailure? {
        let origin =
            request.headers.first(name: "Origin") ?? request.headers.first(name: "Referer").flatMap(Self.origin(ofURL:))
        guard let origin else {
            return .unauthorized("a publish authenticated by cookie needs an Origin or Referer header")
        }
        if self.allowsAny { return nil }
        if let normalized = Self.normalize(origin), self.allowed.contains(normalized) { return nil }
        return .unauthorized(
            "a publish authenticated by cookie must come from an origin in publishOrigins; "
                + "\(JSONValue.string(origin).shortDescription) is not one")
    }

    /// The canonical `scheme://host[:port]` of an origin, or nil when `text` is not just an origin.
    static func normalize(_ text: String) -> String? {
        guard let components = URLComponents(string: text),
            components.path.isEmpty || components.path == "/",
            components.query == nil, components.fragment == nil, components.user == nil
        else { return nil }
        return self.origin(of: components)
    }

    /// The origin a `Referer` URL belongs to.
    static func origin(ofURL text: String) -> String? {
        URLComponents(string: text).flatMap(Self.origin(of:))
    }

    private static func origin(of components: URLComponents) -> String? {
        guard let scheme = components.scheme?.lowercased(), let host = components.host?.lowercased(), !host.isEmpty
        else { return nil }
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        let defaultPort = scheme == "https" ? 443 : scheme == "http" ? 80 : nil
        if let port = components.port, port != defaultPort {
            return "\(scheme)://\(bracketed):\(port)"
        }
        return "\(scheme)://\(bracketed)"
    }
}
