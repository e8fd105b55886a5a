/// `/healthz`, `/readyz` and `/metrics`: answers for supervisors and scrapers, outside every middleware chain.
struct OperationalEndpoint {
    let server: ServerContext

    func response(for route: Route) -> HTTPResponse {
        switch route {
        case .health:
            return HTTPResponse(status: .ok, body: "ok\n")
        case .readiness:
            // 503 from the first step of the shutdown sequence on, so that balancers stop sending clients here, and
            // while the event store cannot commit, so that they send publishers to a gateway that can.
            guard self.server.ready.load(ordering: .relaxed) else {
                return HTTPResponse(status: .serviceUnavailable, body: "not ready\n")
            }
            if let failure = self.server.hub.storeFailure {
                return HTTPResponse(status: .serviceUnavailable, body: "not ready: event store failing: \(failure)\n")
            }
            return HTTPResponse(status: .ok, body: "ready\n")
        case .metrics:
            return HTTPResponse(
                status: .ok,
                headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                body: String(decoding: self.server.metrics.render(), as: UTF8.self)
            )
        case .subscribe, .publish, .notFound, .methodNotAllowed:
            return .text(.notFound, "no such endpoint")
        }
    }
}
