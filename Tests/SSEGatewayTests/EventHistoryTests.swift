import NIOCore
import Testing

@testable import SSEGateway

@Suite("Event history")
struct EventHistoryTests {
    private func event(_ sequence: UInt64, id: String, size: Int = 10) -> HubEvent {
        let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: size)
        return HubEvent(sequence: sequence, id: id, topics: ["t"], isPrivate: false, chunk: chunk, payload: chunk)
    }

    @Test func countBoundDropsTheOldest() {
        var history = EventHistory(capacity: 3)
        for n in 1...5 { history.append(self.event(UInt64(n), id: "e\(n)")) }
        #expect(history.all().map(\.id) == ["e3", "e4", "e5"])
        #expect(history.events(after: "e2") == nil)
        #expect(history.events(after: "e3")?.map(\.id) == ["e4", "e5"])
        #expect(history.events(after: "e5")?.isEmpty == true)
    }

    @Test func byteBudgetDropsTheOldestToo() {
        var history = EventHistory(capacity: 100, maxBytes: 250)
        for n in 1...5 { history.append(self.event(UInt64(n), id: "e\(n)", size: 100)) }
        #expect(history.all().map(\.id) == ["e4", "e5"])
        #expect(history.bytes == 200)
    }

    @Test func repeatedIDResolvesToTheEarliestRetained() {
        var history = EventHistory(capacity: 3)
        history.append(self.event(1, id: "dup"))
        history.append(self.event(2, id: "x"))
        history.append(self.event(3, id: "dup"))
        #expect(history.events(after: "dup")?.map(\.sequence) == [2, 3])
        history.append(self.event(4, id: "y"))
        // The first "dup" fell out; the later one is no longer indexed, so the cursor is unknown.
        #expect(history.events(after: "dup") == nil)
    }

    @Test func zeroCapacityKeepsNothing() {
        var history = EventHistory(capacity: 0)
        history.append(self.event(1, id: "a"))
        #expect(history.count == 0)
    }
}
