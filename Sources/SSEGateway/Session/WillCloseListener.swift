/// Runs when a session ends, whatever ended it; receives the session and the reason.
///
/// Listeners may be `async` (flushing a buffer, telling another service), but each one is raced against
/// `streams.closeListenerTimeout`: a listener that overruns is logged and left behind, and the next one starts.
public typealias WillCloseListener = @Sendable (Session, CloseReason) async throws -> Void

/// Identifies one registered listener so that its owner can remove it later, even when closures cannot be compared.
public struct WillCloseListenerHandle: Hashable, Sendable {
    let value: Int
}
