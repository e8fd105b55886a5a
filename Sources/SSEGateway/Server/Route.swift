import NIOHTTP1

/// Where a request goes, decided from its head alone.
enum Route: Equatable {
    /// A subscribe on the hub mounted at index `mount` of the server's ``HubMounts``.
    case subscribe(mount: Int)
    case publish(mount: Int)
    case health
    case readiness
    case metrics
    case notFound
    case methodNotAllowed(allow: String, mount: Int?)

    static let hubPath = "/.well-known/mercure"

    init(method: HTTPMethod, path: String, mounts: [String: Int] = [Route.hubPath: 0], streamMounts: Set<Int> = []) {
        if let mount = mounts[path], streamMounts.contains(mount) {
            switch method {
            case .GET, .HEAD: self = .subscribe(mount: mount)
            default: self = .methodNotAllowed(allow: "GET, HEAD", mount: mount)
            }
            return
        }
        if let mount = mounts[path] {
            switch method {
            case .GET, .HEAD: self = .subscribe(mount: mount)
            case .POST: self = .publish(mount: mount)
            default: self = .methodNotAllowed(allow: "GET, HEAD, POST", mount: mount)
            }
            return
        }
        switch path {
        case "/healthz", "/readyz", "/metrics":
            guard method == .GET || method == .HEAD else {
                self = .methodNotAllowed(allow: "GET, HEAD", mount: nil)
                return
            }
            self = path == "/healthz" ? .health : path == "/readyz" ? .readiness : .metrics
        default:
            self = .notFound
        }
    }

    /// The hub mount the request addresses, if any.
    var mount: Int? {
        switch self {
        case .subscribe(let mount), .publish(let mount): return mount
        case .methodNotAllowed(_, let mount): return mount
        case .health, .readiness, .metrics, .notFound: return nil
        }
    }

    /// Whether the request publishes or subscribes: what shutdown turns away once the listener has closed.
    var isHub: Bool {
        switch self {
        case .subscribe, .publish: true
        default: false
        }
    }

    /// Whether the route reads a request body; others discard one.
    var readsBody: Bool {
        if case .publish = self { return true }
        return false
    }
}
