import Logging

extension HTTPRejection {
    /// The rejection a middleware phase's error amounts to: an ``HTTPRejection`` as thrown, anything else a logged
    /// `500` whose details stay out of the answer.
    static func from(_ error: any Error, phase: String, logger: Logger, session: Session? = nil) -> HTTPRejection {
        if let rejection = error as? HTTPRejection { return rejection }
        var metadata: Logger.Metadata = [:]
        if let session { metadata["session"] = "\(session.id)" }
        logger.error("\(phase) failed: \(error)", metadata: metadata)
        return HTTPRejection(.internalServerError, reason: "the request could not be completed")
    }

    /// The answer that carries this rejection: its status, its headers, and its reason as a line of text.
    var response: HTTPResponse {
        .text(self.status, self.reason, headers: self.headers.map { ($0.name, $0.value) })
    }
}
