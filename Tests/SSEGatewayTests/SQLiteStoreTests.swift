import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLiteStore
import Testing

@testable import SSEGateway

/// The `sqlite` kind through its plugin: settings, opening, and the store contract on a real file.
@Suite("sqlite store", .timeLimit(.minutes(1)))
struct SQLiteStoreTests {
    static let stores: EventStoreRegistry = {
        var stores = EventStoreRegistry()
        stores.register(SQLiteStorePlugin.self)
        return stores
    }()

    static func check(_ json: String) throws -> [String] {
        try GatewayServer.check(
            configuration: GatewayConfiguration(jsonString: json), registry: .builtIn, stores: Self.stores)
    }

    @Test(
        arguments: [
            (
                #"{"hub": {"store": {"type": "bolt"}}}"#,
                #"hub.store.type: unknown store type "bolt"; known types: memory, sqlite"#
            ),
            (
                #"{"hub": {"store": {"type": "memory", "path": "x"}}}"#,
                "hub.store.path: unknown key; known keys: type"
            ),
            (#"{"hub": {"store": {"type": "sqlite"}}}"#, "hub.store.path: required key is missing"),
            (#"{"hub": {"store": {"type": "sqlite", "path": ""}}}"#, "hub.store.path: must not be empty"),
            (
                #"{"hub": {"store": {"type": "sqlite", "path": "a", "durability": "paranoid"}}}"#,
                "hub.store.durability: expected one of normal, strict"
            ),
            (
                #"{"hub": {"store": {"type": "sqlite", "path": "a", "checkpointInterval": "1ms"}}}"#,
                "hub.store.checkpointInterval: must be at least 100ms"
            ),
            (
                #"{"hub": {"store": {"type": "sqlite", "path": "a", "synchronous": "off"}}}"#,
                "hub.store.synchronous: unknown key; known keys: checkpointInterval, durability, path, type"
            ),
        ]
    )
    func badStoreSettingsAreConfigErrorsNamingTheirPath(json: String, message: String) throws {
        let error = try #require(throws: ConfigError.self) { try Self.check(json) }
        #expect("\(error)".hasPrefix(message), "\(error)")
    }

    @Test func checkingAConfigurationOpensNothing() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("never-\(UUID().uuidString)").path
        _ = try Self.check(#"{"hub": {"store": {"type": "sqlite", "path": "\#(folder)/events.sqlite"}}}"#)
        #expect(!FileManager.default.fileExists(atPath: folder))
    }

    @Test func relativePathsStartAtTheConfigurationFilesFolder() throws {
        var configuration = try GatewayConfiguration(
            jsonString: #"{"hub": {"store": {"type": "sqlite", "path": "data/events.sqlite"}}}"#)
        configuration.baseDirectory = "/srv/gateway/etc"
        let plugin = try #require(
            try Self.stores.make(
                configuration.hub.store,
                context: GatewayServer.storeContext(configuration, logger: Logger(label: "test")))
                as? SQLiteStorePlugin)
        #expect(plugin.resolvedPath == "/srv/gateway/etc/data/events.sqlite")
    }

    @Test func aPathThatCannotBeCreatedIsAStartupErrorNamingTheSettingAndTheSystemsReason() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("file-\(UUID().uuidString)").path
        try "not a folder".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let error = try await #require(throws: ConfigError.self) {
            try await Self.open(path: "\(file)/data/events.sqlite")
        }
        #expect(error.path == "hub.store.path")
        #expect("\(error)".contains("\(file) is not a folder"), "\(error)")

        let notADatabase = file
        let second = try await #require(throws: ConfigError.self) { try await Self.open(path: notADatabase) }
        #expect(second.path == "hub.store.path")
        #expect("\(second)".contains("not a database"), "\(second)")
    }

    @Test func aBatchCommitsInOrderAndAnIdIsStoredOnce() async throws {
        try await Self.withStore { store, loop, _ in
            let outcomes = try await store.append(
                [Self.record("a"), Self.record("b"), Self.record("a", data: "other"), Self.record("c")], on: loop
            ).get()
            guard case .appended(let a) = outcomes[0], case .appended(let b) = outcomes[1],
                case .exists(let existing) = outcomes[2], case .appended(let c) = outcomes[3]
            else {
                Issue.record("unexpected outcomes \(outcomes)")
                return
            }
            #expect(a < b && b < c)
            #expect(existing == StoredEvent(position: a, record: Self.record("a")))
            let again = try await store.append([Self.record("b")], on: loop).get()
            #expect(again == [.exists(StoredEvent(position: b, record: Self.record("b")))])
            #expect(try await store.events(after: a, limit: 10, on: loop).get().map(\.record.id) == ["b", "c"])
            #expect(try await store.newest(limit: 2, on: loop).get().map(\.record.id) == ["b", "c"])
        }
    }

    @Test func aBatchLargerThanOneStatementIsStillOneTransaction() async throws {
        try await Self.withStore { store, loop, _ in
            let records = (0..<1_100).map { Self.record("m\($0)") } + [Self.record("m5")]
            let outcomes = try await store.append(records, on: loop).get()
            let positions = outcomes.compactMap { if case .appended(let p) = $0 { p } else { nil } }
            #expect(positions.count == 1_100)
            #expect(positions == positions.sorted(), "positions follow the batch's order")
            #expect(outcomes.last == .exists(StoredEvent(position: positions[5], record: Self.record("m5"))))
        }
    }

    @Test func anotherFileAtThePathIsNotOverwrittenAndCommitsWaitUntilItIsMovedAway() async throws {
        try await Self.withStore { store, loop, path in
            _ = try await store.append([Self.record("before")], on: loop).get()
            try FileManager.default.removeItem(atPath: path)
            try "someone else's".write(toFile: path, atomically: false, encoding: .utf8)
            let error = await #expect(throws: EventStoreError.self) {
                try await store.append([Self.record("refused")], on: loop).get()
            }
            #expect(error?.reason.contains("replaced by another file") == true)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "someone else's")
            try FileManager.default.removeItem(atPath: path)
            try await store.checkWritable(on: loop).get()
            #expect(try await store.append([Self.record("after")], on: loop).get().count == 1)
            #expect(try await store.newest(limit: 10, on: loop).get().map(\.record.id) == ["before", "after"])
        }
    }

    @Test func recordsComeBackByteForByte() async throws {
        try await Self.withStore { store, loop, _ in
            let odd = EventRecord(
                id: "caf\u{E9}", topics: ["https://example.com/\u{0}/x", "t\u{301}", "q\"b\\s\tz\u{1F}é"],
                data: "line\u{0}nul\nnext",
                type: "ty\u{0}pe", retry: 1500, isPrivate: true)
            let decomposed = EventRecord(id: "cafe\u{301}", topics: ["a"], data: "")
            let outcomes = try await store.append([odd, decomposed], on: loop).get()
            #expect(outcomes.allSatisfy { if case .appended = $0 { true } else { false } }, "NFC and NFD ids differ")
            let found = try await store.event(withID: "caf\u{E9}", on: loop).get()
            #expect(found?.record == odd)
            #expect(try await store.event(withID: "cafe\u{301}", on: loop).get()?.record == decomposed)
            #expect(try await store.event(withID: "CAF\u{C9}", on: loop).get() == nil)
        }
    }

    @Test func positionsNeverRepeatAcrossAReopenEvenWhenEverythingWasDeleted() async throws {
        let path = Self.temporaryPath()
        defer { Self.remove(path) }
        var history = GatewayConfiguration.Hub.History()
        history.size = 1
        let last = try await Self.withStore(path: path, history: history) { store, loop, _ in
            _ = try await store.append([Self.record("x"), Self.record("y")], on: loop).get()
            return try #require(try await store.newest(limit: 5, on: loop).get().last).position
        }
        try await Self.withStore(path: path, history: history) { store, loop, _ in
            #expect(try await store.newest(limit: 5, on: loop).get().map(\.record.id) == ["y"])
            let outcome = try await store.append([Self.record("z")], on: loop).get()
            #expect(outcome == [.appended(position: last + 1)])
        }
    }

    @Test func retentionKeepsTheNewestWithinSizeAndBytes() async throws {
        var history = GatewayConfiguration.Hub.History()
        history.size = 5
        history.maxBytes = 1024
        try await Self.withStore(history: history) { store, loop, _ in
            for n in 0..<20 {
                _ = try await store.append([Self.record("s\(n)")], on: loop).get()
            }
            // Deleted in batches once an eighth beyond the bound (at least one event): 5 or 6 are kept.
            let newest = try await store.events(after: 0, limit: 100, on: loop).get().map(\.record.id)
            #expect(newest.count == 5 || newest.count == 6)
            #expect(newest == ((20 - newest.count)..<20).map { "s\($0)" })
            let big = String(repeating: "b", count: 700)
            _ = try await store.append([Self.record("big1", data: big), Self.record("big2", data: big)], on: loop).get()
            let kept = try await store.events(after: 0, limit: 100, on: loop).get()
            #expect(kept.map(\.record.id) == ["big2"], "the byte bound dropped the oldest until the rest fit")
        }
    }

    @Test func eventsOlderThanMaxAgeAreDeletedInTheBackground() async throws {
        var history = GatewayConfiguration.Hub.History()
        history.maxAge = .seconds(1)
        try await Self.withStore(history: history, checkpointInterval: "100ms") { store, loop, _ in
            _ = try await store.append([Self.record("old")], on: loop).get()
            let deadline = ContinuousClock.now + .seconds(10)
            while try await store.event(withID: "old", on: loop).get() != nil {
                try #require(ContinuousClock.now < deadline, "an event past maxAge was kept")
                try await Task.sleep(for: .milliseconds(100))
            }
            _ = try await store.append([Self.record("new")], on: loop).get()
            #expect(try await store.event(withID: "new", on: loop).get() != nil)
        }
    }

    // MARK: Helpers

    static func record(_ id: String, data: String = "d") -> EventRecord {
        EventRecord(id: id, topics: ["t"], data: data)
    }

    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)/events.sqlite").path
    }

    static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }

    static func open(
        path: String,
        history: GatewayConfiguration.Hub.History = .init(),
        checkpointInterval: String = "10s"
    ) async throws -> any EventStore {
        let settings = ConfigObject(
            path: "hub.store",
            members: [
                "type": .string("sqlite"), "path": .string(path), "checkpointInterval": .string(checkpointInterval),
            ])
        let plugin = try SQLiteStorePlugin(
            settings: settings,
            context: EventStoreContext(history: history, baseDirectory: "/", logger: Logger(label: "test")))
        return try await plugin.open(on: MultiThreadedEventLoopGroup.singleton)
    }

    @discardableResult
    static func withStore<T>(
        path: String? = nil,
        history: GatewayConfiguration.Hub.History = .init(),
        checkpointInterval: String = "10s",
        _ body: (any EventStore, any EventLoop, String) async throws -> T
    ) async throws -> T {
        let file = path ?? Self.temporaryPath()
        defer { if path == nil { Self.remove(file) } }
        let store = try await Self.open(path: file, history: history, checkpointInterval: checkpointInterval)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        do {
            let result = try await body(store, loop, file)
            try await store.close()
            return result
        } catch {
            try? await store.close()
            throw error
        }
    }
}
