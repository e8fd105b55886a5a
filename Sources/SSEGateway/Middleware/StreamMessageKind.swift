/// What a stream wrote, as ``StreamFilter/didWrite(_:)`` reports it.
public enum StreamMessageKind: Sendable, Hashable {
    /// An event: live or replayed from the hub, or sent through ``SessionStream/send(_:)``.
    case event
    /// A comment line sent through ``SessionStream/sendComment(_:)``, which clients ignore.
    case comment
}
