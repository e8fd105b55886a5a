/// What a stream resuming from a cursor replays: the part read from the store (when the cursor is older than the
/// hub's memory), then what memory holds after `memoryAfter`, which a pin keeps in memory until the stream attaches.
struct ReplayPlan: Sendable {
    /// Events read from the store, oldest first, all at or before the position memory takes over from.
    var stored: [HubEvent]
    /// Memory's part starts after this position.
    var memoryAfter: UInt64
    /// The hub's hold on its memory, released when the stream attaches or is abandoned.
    var pin: UInt64
    /// The `Last-Event-ID` reply header: the cursor when it was found, `earliest` otherwise.
    var replyLastEventID: String
}
