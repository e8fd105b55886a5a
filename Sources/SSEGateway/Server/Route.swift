import NIOHTTP1

/// Where a request goes, decided from its head alone.
enum Route: Equatable {
    case subscribe
    case publish
    case health
    case readiness
    case metrics
    case notFound
    case methodNotAllowed(allow: String)

    static let hubPath = "/.well-known/mercure"

    init(method: HTTPMethod, path: String) {
        switch path {
        case Self.hubPath:
            switch method {
            case .GET, .HEAD: self = .subscribe
            case .POST: self = .publish
            default: self = .methodNotAllowed(allow: "GET, HEAD, POST")
            }
        case "/healthz", "/readyz", "/metrics":
            guard method == .GET || method == .HEAD else {
                self = .methodNotAllowed(allow: "GET, HEAD")
                return
            }
            self = path == "/healthz" ? .health : path == "/readyz" ? .readiness : .metrics
        default:
            self = .notFound
        }
    }

    /// Whether the route reads a request body; others discard one.
    var readsBody: Bool { self == .publish }
}
