import Logging
import NIOCore
import NIOHTTP1

/// Publishing: a form body validated into an update, the chain's publish phase, then the hub.
///
/// Deciding and committing are separate steps so that the connection state machine stands between them: an update
/// enters the hub only if its request is still waiting for the answer.
struct PublishEndpoint {
    let server: ServerContext

    /// What the publish phase decided: what the connection does next, the update to commit when it may, and the
    /// headers the chain wants on the answer.
    struct Decision {
        var outcome: HTTPConnectionStateMachine.PhaseOutcome
        var update: PublishRequest?
        var responseHeaders: HTTPHeaders

        static func refuse(_ response: HTTPResponse, _ headers: HTTPHeaders) -> Decision {
            Decision(outcome: .answer(response, keepAlive: true), update: nil, responseHeaders: headers)
        }

        static func accept(_ update: PublishRequest, _ headers: HTTPHeaders) -> Decision {
            Decision(outcome: .commit, update: update, responseHeaders: headers)
        }
    }

    /// Runs `mount`'s admission phase on the head of a publish whose client waits for `100 Continue`; the future
    /// completes on `eventLoop` and never fails.
    func admit(
        request facts: RequestFacts,
        mount: HubMount,
        eventLoop: any EventLoop
    ) -> EventLoopFuture<HTTPConnectionStateMachine.PhaseOutcome> {
        if mount.middleware.isEmpty {
            return eventLoop.makeSucceededFuture(.readBody)
        }
        let middleware = mount.middleware
        let logger = self.server.logger
        return eventLoop.makeFutureWithImmediateTask {
            for step in middleware {
                try await step.admitPublish(facts)
            }
        }.map { .readBody }.flatMapErrorThrowing { error in
            .answer(HTTPRejection.from(error, phase: "publish admission", logger: logger).response, keepAlive: false)
        }
    }

    /// A decision made at once (no middleware, or a body that does not validate), or one the chain is making.
    enum Pending {
        case decided(Decision)
        /// Completes on the connection's event loop and never fails.
        case deciding(EventLoopFuture<Decision>)
    }

    /// Validates `body` and runs `mount`'s publish phase. Without middleware the decision is made at once, so the
    /// common case costs neither a future nor a task.
    ///
    /// - Parameters:
    ///   - facts: the request's facts, built only when a middleware needs them.
    ///   - mayPublishAnonymously: whether the peer's address is in `hub.publishAllowedFrom`, which admits a publish
    ///     that no middleware authorised.
    func decide(
        body: ByteBuffer,
        request facts: @autoclosure () -> RequestFacts,
        mount: HubMount,
        responseHeaders: HTTPHeaders,
        mayPublishAnonymously: Bool,
        eventLoop: any EventLoop
    ) -> Pending {
        let update: PublishRequest
        do {
            update = try PublishRequest(form: FormURLEncoded.parse(body.readableBytesView))
        } catch let error as PublishError {
            let refusal = HTTPResponse.text(HTTPResponseStatus(statusCode: error.status), error.reason)
            return .decided(.refuse(refusal, responseHeaders))
        } catch {
            return .decided(.refuse(.text(.badRequest, "malformed form body: \(error)"), responseHeaders))
        }
        if mount.middleware.isEmpty {
            return .decided(.accept(update, responseHeaders))
        }
        let publish = PublishContext(request: facts(), update: update, responseHeaders: responseHeaders)
        let middleware = mount.middleware
        let logger = self.server.logger
        @Sendable func decided() -> Decision {
            guard publish.isAuthorized || mayPublishAnonymously else {
                let refusal = HTTPResponse.text(.forbidden, "publishing is not allowed from this address")
                return .refuse(refusal, publish.responseHeaders)
            }
            return .accept(publish.update, publish.responseHeaders)
        }
        @Sendable func refused(_ error: any Error) -> Decision {
            let rejection = HTTPRejection.from(error, phase: "publish phase", logger: logger)
            return .refuse(rejection.response, publish.responseHeaders)
        }
        // Each middleware that can decide at once does, in order; a task starts only at the first that must wait.
        var waitsFrom = middleware.endIndex
        do {
            for index in middleware.indices where try middleware[index].publishWithoutSuspending(publish) == .suspend {
                waitsFrom = index
                break
            }
        } catch {
            return .decided(refused(error))
        }
        guard waitsFrom < middleware.endIndex else { return .decided(decided()) }
        let rest = middleware[waitsFrom...]
        let decision = eventLoop.makeFutureWithImmediateTask {
            try await rest.first?.publish(publish)
            for step in rest.dropFirst() where try step.publishWithoutSuspending(publish) == .suspend {
                try await step.publish(publish)
            }
        }.map { decided() }.flatMapErrorThrowing(refused)
        return .deciding(decision)
    }

    /// Commits a decided update to the store; the answer is its id, as Mercure publishers expect, once it is
    /// committed. `answer` is called once, on `eventLoop`: a store that cannot commit gives `503`.
    func commit(
        _ update: PublishRequest,
        ticket: PublishTicket?,
        on eventLoop: any EventLoop,
        then answer: @escaping @Sendable (HTTPResponse) -> Void
    ) {
        let retryAfter = self.server.connectionConfiguration.retryAfterSeconds
        let logger = self.server.logger
        self.server.hub.commit(update, on: eventLoop, ticket: ticket) { result in
            switch result {
            case .success(.published(let id)), .success(.repeated(let id)):
                answer(HTTPResponse(status: .ok, body: id))
            case .success(.conflict(let id)):
                answer(.text(.conflict, PublishOutcome.conflictReason(id)))
            case .failure(let error):
                logger.error("event store: \(error)")
                answer(.retryLater("the event store could not commit the update: \(error)", after: retryAfter))
            }
        }
    }
}
