/// What became of a publish the store was asked to commit.
enum PublishOutcome: Sendable, Equatable {
    /// Committed and delivered.
    case published(String)
    /// The id is retained with the same content: a retry of a publish that was committed; answered as before.
    case repeated(String)
    /// The id is retained with other content: refused, since two events under one id would make cursors ambiguous.
    case conflict(String)

    static func conflictReason(_ id: String) -> String {
        "an event with id \(id) is already retained with other content; publish under a new id"
    }
}
