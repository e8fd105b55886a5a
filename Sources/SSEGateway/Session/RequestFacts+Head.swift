import NIOCore
import NIOHTTP1

extension RequestFacts {
    /// The facts of a request as its head tells them, with the query decoded once for every middleware.
    init(head: HTTPRequestHead, remoteAddress: SocketAddress?) {
        let (path, query) = FormURLEncoded.parseQuery(head.uri)
        self.init(
            method: head.method,
            uri: head.uri,
            path: path,
            query: query,
            headers: head.headers,
            remoteAddress: remoteAddress,
            version: head.version
        )
    }
}
