import NIOCore
import NIOHTTP1

/// Routes a request head and asks the admission policy about it, with the route's middleware `intercept` phase (a
/// CORS preflight, headers for every answer) run in between.
struct RequestRouter {
    let server: ServerContext

    /// The route of `head` and the verdict on it; `responseHeaders` gets what middleware adds to every answer.
    ///
    /// - Parameter mayPublishAnonymously: whether the peer may publish without a middleware's authorisation; asked
    ///   only for a publish on a route without middleware.
    func route(
        _ head: HTTPRequestHead,
        capacity: AdmissionPolicy.Connection.Capacity,
        remoteAddress: SocketAddress?,
        mayPublishAnonymously: () -> Bool,
        responseHeaders: inout HTTPHeaders
    ) -> (Route, HTTPConnectionStateMachine.Verdict) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let route = Route(
            method: head.method, path: String(path), mounts: self.server.mounts.indexByPath,
            streamMounts: self.server.mounts.streamMounts)
        let middleware = route.mount.map { self.server.mounts.mounts[$0].middleware } ?? []
        let connection = AdmissionPolicy.Connection(
            capacity: capacity, isQuiescing: self.server.closing.load(ordering: .relaxed))
        let verdict = self.server.admission.verdict(
            for: head,
            route: route,
            connection: connection,
            routeHasMiddleware: !middleware.isEmpty,
            mayPublishAnonymously: mayPublishAnonymously,
            intercept: {
                guard !middleware.isEmpty else { return nil }
                let facts = RequestFacts(head: head, remoteAddress: remoteAddress)
                for step in middleware {
                    if let answer = step.intercept(facts, responseHeaders: &responseHeaders) {
                        let headers = answer.headers.map { ($0.name, $0.value) }
                        return HTTPResponse(status: answer.status, headers: headers, body: answer.body)
                    }
                }
                return nil
            }
        )
        return (route, verdict)
    }
}
