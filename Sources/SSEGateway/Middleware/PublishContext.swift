import NIOConcurrencyHelpers
public import NIOHTTP1

/// One publish on its way into the hub, as the ``Middleware/publish(_:)`` phase sees it.
///
/// Safe to use from any thread.
public final class PublishContext: Sendable {
    /// The facts of the `POST` request.
    public let request: RequestFacts

    private struct State {
        var update: PublishRequest
        var responseHeaders: HTTPHeaders
        var isAuthorized = false
    }

    private let state: NIOLockedValueBox<State>

    init(request: RequestFacts, update: PublishRequest, responseHeaders: HTTPHeaders) {
        self.request = request
        self.state = NIOLockedValueBox(State(update: update, responseHeaders: responseHeaders))
    }

    /// The validated update; a middleware may rewrite it (add a topic, stamp data) before it is published.
    public var update: PublishRequest {
        get { self.state.withLockedValue { $0.update } }
        set { self.state.withLockedValue { $0.update = newValue } }
    }

    /// Headers sent with the answer to this publish, whatever it is.
    public var responseHeaders: HTTPHeaders {
        get { self.state.withLockedValue { $0.responseHeaders } }
        set { self.state.withLockedValue { $0.responseHeaders = newValue } }
    }

    /// Set by a middleware that has verified the publisher (a valid token with the right scope). A publish nobody
    /// authorised is accepted only from the addresses in `hub.publishAllowedFrom`.
    public var isAuthorized: Bool {
        get { self.state.withLockedValue { $0.isAuthorized } }
        set { self.state.withLockedValue { $0.isAuthorized = newValue } }
    }
}
