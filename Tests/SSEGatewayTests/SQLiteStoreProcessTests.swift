import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// The `sqlite` store through the real binary: a real file in a temporary folder, crashes, restarts, a full disk.
@Suite("sqlite store of sse-gateway serve", .serialized, .timeLimit(.minutes(3)))
struct SQLiteStoreProcessTests {
    /// A folder of its own for each test, removed afterwards.
    final class Folder: Sendable {
        let path: String

        init() throws {
            self.path =
                FileManager.default.temporaryDirectory
                .appendingPathComponent("sse-gateway-store-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
        }

        deinit { try? FileManager.default.removeItem(atPath: self.path) }

        var database: String { self.path + "/events.sqlite" }

        /// The bytes of the database and its side files.
        func storeBytes() throws -> Int {
            try ["", "-wal", "-shm", "-journal"].reduce(0) { total, suffix in
                let file = self.database + suffix
                guard FileManager.default.fileExists(atPath: file) else { return total }
                let size = try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int ?? 0
                return total + size
            }
        }
    }

    static func serve(_ folder: Folder, history: String = "{}") async throws -> (gateway: GatewayProcess, port: Int) {
        try await GatewayProcess.serve(
            config: """
                {"server": {"host": "127.0.0.1", "port": 0, "threads": 2},
                 "hub": {"store": {"type": "sqlite", "path": "\(folder.database)"}, "history": \(history)},
                 "shutdown": {"readinessGrace": "0s", "drainTimeout": "0s"}}
                """)
    }

    /// Stops the gateway with SIGTERM and checks that it exited cleanly.
    static func stop(_ gateway: GatewayProcess) async throws {
        gateway.signal(SIGTERM)
        #expect(try await gateway.waitForExit() == 0, "\(gateway.output)")
    }

    /// Subscribes from `cursor`, then publishes a marker and returns the replayed ids (those before the marker) and
    /// the stream's head.
    static func replay(
        port: Int,
        topic: String,
        from cursor: String,
        timeout: TimeAmount = .seconds(20)
    ) async throws -> (ids: [String], head: String) {
        let subscriber = try await TestSubscriber.open(
            port: port, query: "topic=\(topic)", headers: ["Last-Event-ID: \(cursor)"])
        let marker = "urn:test:marker:\(UUID().uuidString)"
        let publisher = try await TestPublisher.connect(port: port)
        #expect(try await publisher.publish([("topic", topic), ("id", marker)]).status == 200)
        try await subscriber.client.waitFor(text: "id: \(marker)\n", timeout: timeout)
        let ids = try await subscriber.ids()
        try await subscriber.client.close()
        try await publisher.client.close()
        return (Array(ids.prefix { $0 != marker }), try await subscriber.head())
    }

    @Test func everyAnsweredPublishSurvivesAKillInOrderAndOnce() async throws {
        let folder = try Folder()
        let (gateway, port) = try await Self.serve(folder)
        let acked = NIOLockedValueBox<[[String]]>(Array(repeating: [], count: 3))
        let total = EventCounter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for publisherIndex in 0..<3 {
                group.addTask {
                    let publisher = try await TestPublisher.connect(port: port)
                    for n in 0..<5_000 {
                        let id = "urn:test:p\(publisherIndex)-\(n)"
                        // The kill cuts the connection: the first failure ends this publisher.
                        guard let answer = try? await publisher.publish([("topic", "storm"), ("id", id)]),
                            answer.status == 200
                        else { return }
                        acked.withLockedValue { $0[publisherIndex].append(id) }
                        total.increment()
                    }
                }
            }
            try await total.wait(for: 300, "300 publishes answered", timeout: .seconds(60))
            gateway.signal(SIGKILL)
            try await group.waitForAll()
        }
        _ = try await gateway.waitForExit()

        let (restarted, newPort) = try await Self.serve(folder)
        let replayed = try await Self.replay(port: newPort, topic: "storm", from: "earliest").ids
        let answered = acked.withLockedValue { $0 }
        #expect(answered.joined().count >= 300)
        #expect(Set(replayed).count == replayed.count, "no event is replayed twice")
        let replayedSet = Set(replayed)
        for (index, ids) in answered.enumerated() {
            let missing = ids.filter { !replayedSet.contains($0) }
            #expect(
                missing.isEmpty,
                "publisher \(index): \(missing.count) answered events lost, first \(missing.first ?? "")")
            let order = replayed.filter { $0.hasPrefix("urn:test:p\(index)-") }
            #expect(Array(order.prefix(ids.count)) == ids, "publisher \(index)'s events replay in its ack order")
        }
        try await Self.stop(restarted)
    }

    @Test func aRestartResumesFromACursorWithExactlyTheEventsAfterIt() async throws {
        let folder = try Folder()
        let (gateway, port) = try await Self.serve(folder, history: #"{"cacheSize": 10}"#)
        let publisher = try await TestPublisher.connect(port: port)
        for n in 1...100 {
            #expect(
                try await publisher.publish([("topic", "resume"), ("id", "urn:test:e\(n)"), ("data", "\(n)")]).status
                    == 200)
        }
        try await Self.stop(gateway)

        let (restarted, newPort) = try await Self.serve(folder, history: #"{"cacheSize": 10}"#)
        let (ids, head) = try await Self.replay(port: newPort, topic: "resume", from: "urn:test:e40")
        #expect(ids == (41...100).map { "urn:test:e\($0)" })
        #expect(head.contains("Last-Event-ID: urn:test:e40\r\n"), "the reply names the cursor it resumed from")
        try await Self.stop(restarted)
    }

    @Test func retentionKeepsTheFilesBoundedAndEarliestReplaysTheNewest() async throws {
        let folder = try Folder()
        let (gateway, port) = try await Self.serve(folder, history: #"{"size": 200}"#)
        let payload = String(repeating: "x", count: 1024)
        // The files' size is sampled all along the storm, not only at its end.
        let largest = NIOLockedValueBox(0)
        let sampler = Task {
            while !Task.isCancelled {
                let bytes = (try? folder.storeBytes()) ?? 0
                largest.withLockedValue { $0 = max($0, bytes) }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for publisherIndex in 0..<4 {
                group.addTask {
                    let publisher = try await TestPublisher.connect(port: port)
                    for n in stride(from: publisherIndex, to: 2_000, by: 4) {
                        let answer = try await publisher.publish(
                            [("topic", "bulk"), ("id", "urn:test:b\(n)"), ("data", payload)])
                        #expect(answer.status == 200)
                    }
                }
            }
            try await group.waitForAll()
        }
        sampler.cancel()
        _ = await sampler.value
        let peak = max(largest.withLockedValue { $0 }, try folder.storeBytes())
        let (ids, head) = try await Self.replay(port: port, topic: "bulk", from: "earliest")
        #expect(head.contains("Last-Event-ID: earliest\r\n"))
        #expect(ids.count == 200, "earliest replays what is retained: the newest 200")
        #expect(Set(ids).count == 200)
        // 2,000 KiB were published; 200 events of 1 KiB are kept. The file, its WAL (checkpointed every 1 MiB and
        // truncated back to 1 MiB) and the index stay far below what was published.
        #expect(peak < 1_700_000, "the store's files held up to \(peak) bytes")
        try await Self.stop(gateway)
        #expect(try folder.storeBytes() < 600_000, "after a clean stop the WAL is folded in and truncated")
    }

    @Test func aFullDiskAnswers503KeepsStreamsOpenAndRecoversByItself() async throws {
        let folder = try Folder()
        let (gateway, port) = try await Self.serve(folder)
        let subscriber = try await TestSubscriber.open(port: port, query: "topic=disk")
        let publisher = try await TestPublisher.connect(port: port)
        #expect(try await publisher.publish([("topic", "disk"), ("id", "urn:test:before")]).status == 200)
        try await subscriber.waitForEvents(1)

        // Every write to a file now fails with EFBIG, as on a full disk.
        try await Self.prlimit(gateway, fileSize: "0:unlimited")
        let refused = try await publisher.publish([("topic", "disk"), ("id", "urn:test:refused")])
        #expect(refused.status == 503)
        #expect(refused.header("Retry-After") != nil)
        #expect(try await Self.readiness(port: port).status == 503)
        _ = try await gateway.waitForOutput("event store failing")
        let again = try await publisher.publish([("topic", "disk"), ("id", "urn:test:refused-again")])
        #expect(again.status == 503)

        try await Self.prlimit(gateway, fileSize: "unlimited:unlimited")
        // Nobody publishes: the store's probe alone turns the gateway ready again.
        let deadline = NIODeadline.now() + .seconds(15)
        while try await Self.readiness(port: port).status != 200 {
            try #require(NIODeadline.now() < deadline, "/readyz did not recover: \(gateway.output)")
            try await Task.sleep(for: .milliseconds(100))
        }
        _ = try await gateway.waitForOutput("event store recovered")
        #expect(gateway.output.components(separatedBy: "event store failing").count == 2, "one line per burst")
        #expect(try await publisher.publish([("topic", "disk"), ("id", "urn:test:after")]).status == 200)
        try await subscriber.waitForEvents(2)
        #expect(try await subscriber.ids() == ["urn:test:before", "urn:test:after"], "the stream stayed open")
        try await Self.stop(gateway)
    }

    @Test func aDatabaseFileRemovedWhileOpenIsWrittenBackWithNothingLost() async throws {
        let folder = try Folder()
        let (gateway, port) = try await Self.serve(folder)
        let publisher = try await TestPublisher.connect(port: port)
        for n in 1...20 {
            #expect(try await publisher.publish([("topic", "gone"), ("id", "urn:test:g\(n)")]).status == 200)
        }
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            try FileManager.default.removeItem(atPath: folder.path + "/" + file)
        }
        for n in 21...40 {
            #expect(try await publisher.publish([("topic", "gone"), ("id", "urn:test:g\(n)")]).status == 200)
        }
        #expect(FileManager.default.fileExists(atPath: folder.database), "written back at its path")
        _ = try await gateway.waitForOutput("the database file was written back")
        try await Self.stop(gateway)

        let (restarted, newPort) = try await Self.serve(folder)
        let ids = try await Self.replay(port: newPort, topic: "gone", from: "earliest").ids
        #expect(ids == (1...40).map { "urn:test:g\($0)" })
        try await Self.stop(restarted)
    }

    @Test func replaysRacingAPublishStormAcrossARestartHaveNoGapAndNoDuplicate() async throws {
        let folder = try Folder()
        let history = #"{"size": 5000, "cacheSize": 50}"#
        let (gateway, port) = try await Self.serve(folder, history: history)
        let publisher = try await TestPublisher.connect(port: port)
        for n in 1...300 {
            #expect(try await publisher.publish([("topic", "race"), ("id", "urn:test:r\(n)")]).status == 200)
        }
        try await Self.stop(gateway)

        let (restarted, newPort) = try await Self.serve(folder, history: history)
        let last = 1_000
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let publisher = try await TestPublisher.connect(port: newPort)
                for n in 301...last {
                    #expect(try await publisher.publish([("topic", "race"), ("id", "urn:test:r\(n)")]).status == 200)
                }
            }
            for (index, cursor) in [150, 290, 10, 200, 299, 1].enumerated() {
                group.addTask {
                    // Subscribers arrive one after another while the storm runs.
                    try await Task.sleep(for: .milliseconds(40 * index))
                    let subscriber = try await TestSubscriber.open(
                        port: newPort, query: "topic=race", headers: ["Last-Event-ID: urn:test:r\(cursor)"])
                    try await subscriber.client.waitFor(text: "id: urn:test:r\(last)\n", timeout: .seconds(60))
                    let ids = try await subscriber.ids()
                    #expect(ids == ((cursor + 1)...last).map { "urn:test:r\($0)" }, "cursor r\(cursor)")
                    try await subscriber.client.close()
                }
            }
            try await group.waitForAll()
        }
        try await Self.stop(restarted)
    }

    // MARK: Helpers

    static func readiness(port: Int) async throws -> HTTPTestResponse {
        let client = try await RawClient.connect(port: port)
        try await client.sendRequest("GET", "/readyz")
        let response = try await client.readResponse()
        try await client.close()
        return response
    }

    /// Sets the gateway's RLIMIT_FSIZE with util-linux's `prlimit`.
    static func prlimit(_ gateway: GatewayProcess, fileSize: String) async throws {
        let result = try await ChildProcess.run(
            executable: URL(fileURLWithPath: "/usr/bin/prlimit"),
            arguments: ["--pid", "\(gateway.child.processIdentifier)", "--fsize=\(fileSize)"],
            timeout: .seconds(10))
        try #require(result.status == 0, "prlimit failed: \(result.standardError)")
    }
}
