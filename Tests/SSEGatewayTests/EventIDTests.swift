import Foundation
import Testing

@testable import SSEGateway

@Suite("Generated event ids")
struct EventIDTests {
    private static let pattern = try! NSRegularExpression(
        pattern: "^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
    )

    private func isWellFormed(_ id: String) -> Bool {
        Self.pattern.firstMatch(in: id, range: NSRange(id.startIndex..., in: id)) != nil
    }

    @Test func formatIsURNWithUUIDv7() {
        let id = EventID.generate()
        #expect(id.count == 45)
        #expect(isWellFormed(id), "\(id)")
    }

    @Test func timestampIsCurrentUnixMilliseconds() throws {
        let before = UInt64(Date().timeIntervalSince1970 * 1000)
        let id = EventID.generate()
        let after = UInt64(Date().timeIntervalSince1970 * 1000)
        let hex = id.dropFirst("urn:uuid:".count).replacingOccurrences(of: "-", with: "")
        let milliseconds = try #require(UInt64(hex.prefix(12), radix: 16))
        // The generator may run ahead by a few milliseconds when its counter overflows.
        #expect(milliseconds >= before)
        #expect(milliseconds <= after + 50)
    }

    @Test func fieldLayout() {
        let id = EventID.format(milliseconds: 0x0123_4567_89AB, counter: 0xCDE, random: 0xFFFF_FFFF_FFFF_FFFF)
        #expect(id == "urn:uuid:01234567-89ab-7cde-bfff-ffffffffffff")
        let zero = EventID.format(milliseconds: 0, counter: 0, random: 0)
        #expect(zero == "urn:uuid:00000000-0000-7000-8000-000000000000")
        #expect(isWellFormed(id))
        #expect(isWellFormed(zero))
    }

    @Test func strictlyIncreasingAndUnique() {
        var previous = EventID.generate()
        var seen = Set([previous])
        for _ in 0..<10_000 {
            let next = EventID.generate()
            #expect(next > previous, "\(next) should sort after \(previous)")
            #expect(isWellFormed(next))
            seen.insert(next)
            previous = next
        }
        #expect(seen.count == 10_001)
    }

    @Test func increasingAcrossConcurrentCallers() async {
        let batches = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<4 {
                group.addTask { (0..<2_500).map { _ in EventID.generate() } }
            }
            var all: [[String]] = []
            for await batch in group {
                all.append(batch)
            }
            return all
        }
        for batch in batches {
            #expect(zip(batch, batch.dropFirst()).allSatisfy { $0 < $1 })
        }
        #expect(Set(batches.joined()).count == 10_000)
    }
}
