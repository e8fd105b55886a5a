/// What became of one record of an append.
public enum AppendOutcome: Sendable, Equatable {
    /// Committed at this position.
    case appended(position: UInt64)
    /// Not committed: the store already holds an event with the record's id (this one, or one earlier in the batch).
    case exists(StoredEvent)
}
