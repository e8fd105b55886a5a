/// A step every stream passes through before it opens, in the order the configuration lists them.
///
/// The connect phase may suspend (verify a token, look something up). It reads ``Session/request``, may set
/// ``Session/claims`` and attributes, may register will-close listeners for its own cleanup, and rejects a stream by
/// throwing ``HTTPRejection``; any other error rejects it with 500.
public protocol Middleware: Sendable {
    /// Called once per stream, before its response head is sent.
    func connect(_ session: Session) async throws
}
