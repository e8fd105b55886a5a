import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import PostgresStore
@testable import SSEGateway

/// The `postgres` kind through its plugin: settings without a server, and the store contract on a throwaway one.
@Suite("postgres store", .serialized, .timeLimit(.minutes(2)))
struct PostgresStoreTests {
    static let stores: EventStoreRegistry = {
        var stores = EventStoreRegistry()
        stores.register(PostgresStorePlugin.self)
        return stores
    }()

    @Test(
        arguments: [
            (#"{"type": "postgres"}"#, "hub.store.url: required key is missing"),
            (#"{"type": "postgres", "url": "mysql://a@b/c"}"#, "hub.store.url: the scheme must be postgres"),
            (#"{"type": "postgres", "url": "postgres://host/db"}"#, "hub.store.url: no user"),
            (#"{"type": "postgres", "url": "postgres://u@h/d?sslmode=x"}"#, "hub.store.url: query parameters"),
            (#"{"type": "postgres", "url": "postgres://u@h/d", "notifyURL": "x"}"#, "hub.store.notifyURL:"),
            (#"{"type": "postgres", "url": "postgres://u@h/d", "table": "Events"}"#, "hub.store.table: must be"),
            (#"{"type": "postgres", "url": "postgres://u@h/d", "poolSize": 0}"#, "hub.store.poolSize:"),
            (#"{"type": "postgres", "url": "postgres://u@h/d", "pollInterval": "1ms"}"#, "hub.store.pollInterval:"),
            (#"{"type": "postgres", "url": "postgres://u@h/d", "tls": "maybe"}"#, "hub.store.tls:"),
            (#"{"type": "postgres", "url": "postgres://u@h/d", "password": "x"}"#, "hub.store.password: unknown key"),
        ]
    )
    func badSettingsAreConfigErrorsNamingTheirPath(store: String, message: String) throws {
        let configuration = try GatewayConfiguration(jsonString: #"{"hub": {"store": \#(store)}}"#)
        let error = try #require(throws: ConfigError.self) {
            try GatewayServer.check(configuration: configuration, registry: .builtIn, stores: Self.stores)
        }
        #expect("\(error)".hasPrefix(message), "\(error)")
        #expect(!"\(error)".contains("secret"))
    }

    @Test func checkingAConfigurationConnectsToNothing() throws {
        let configuration = try GatewayConfiguration(
            jsonString: #"{"hub": {"store": {"type": "postgres", "url": "postgres://u:secret@127.0.0.1:1/d"}}}"#)
        #expect(try GatewayServer.check(configuration: configuration, registry: .builtIn, stores: Self.stores) == [])
    }

    @Test(.enabled(if: PostgresCluster.canRun, PostgresCluster.skipMessage))
    func theContractOnARealServer() async throws {
        try await PostgresCluster.with { cluster in
            var history = GatewayConfiguration.Hub.History()
            history.size = 3
            let store = try await Self.open(cluster, history: history)
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            do {
                let odd = EventRecord(
                    id: "caf\u{E9}", topics: ["a\u{0}b", "q\"\\"], data: "x\u{0}y", type: "t\u{0}", retry: 7,
                    isPrivate: true)
                let outcomes = try await store.append(
                    [odd, Self.record("b"), Self.record("caf\u{E9}"), Self.record("cafe\u{301}")], on: loop
                ).get()
                guard case .appended(let first) = outcomes[0], case .appended(let second) = outcomes[1],
                    case .exists(let existing) = outcomes[2], case .appended(let fourth) = outcomes[3]
                else {
                    Issue.record("unexpected outcomes \(outcomes)")
                    return
                }
                #expect(first < second && second < fourth)
                #expect(existing == StoredEvent(position: first, record: odd), "byte for byte, NUL included")
                #expect(try await store.event(withID: "cafe\u{301}", on: loop).get()?.position == fourth)
                #expect(
                    try await store.events(after: first, limit: 10, on: loop).get().map(\.position) == [second, fourth])
                #expect(try await store.newest(limit: 2, on: loop).get().map(\.position) == [second, fourth])
                try await store.checkWritable(on: loop).get()
                #expect(store.isShared)

                for n in 0..<10 { _ = try await store.append([Self.record("r\(n)")], on: loop).get() }
                try await #require(store as? PostgresEventStore).trim()
                #expect(try await store.newest(limit: 100, on: loop).get().map(\.record.id) == ["r7", "r8", "r9"])
            } catch {
                try? await store.close()
                throw error
            }
            try await store.close()
        }
    }

    static func record(_ id: String) -> EventRecord {
        EventRecord(id: id, topics: ["t"], data: "d")
    }

    static func open(_ cluster: PostgresCluster, history: GatewayConfiguration.Hub.History) async throws
        -> any EventStore
    {
        let settings = ConfigObject(
            path: "hub.store",
            members: ["type": .string("postgres"), "url": .string(cluster.url), "tls": .string("disable")])
        let plugin = try PostgresStorePlugin(
            settings: settings,
            context: EventStoreContext(history: history, baseDirectory: "/", logger: Logger(label: "test")))
        return try await plugin.open(on: MultiThreadedEventLoopGroup.singleton)
    }
}
