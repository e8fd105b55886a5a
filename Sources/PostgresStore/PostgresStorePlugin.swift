import Logging
public import NIOCore
import NIOSSL
import PostgresNIO
public import SSEGateway

/// `{"type": "postgres", "url": "postgres://user:password@host:5432/database"}`: events in a PostgreSQL table that
/// several gateways share, so that they behave as one hub.
///
/// Settings: `url` (required), `notifyURL` (where `LISTEN` connects, when `url` goes through a pooler in
/// transaction mode; default `url`), `table` (default `"sse_events"`, also the `NOTIFY` channel), `poolSize`
/// (connections for publishing and replay; default 4), `pollInterval` (how often a node reads new events without a
/// notification; default `"100ms"`), `retentionInterval` (default `"10s"`), `connectTimeout` (default `"5s"`),
/// `queryTimeout` (how long one operation may wait for the server; default `"2s"`) and `tls` (`"disable"`,
/// `"prefer"` or `"require"`; default `"prefer"`).
public struct PostgresStorePlugin: EventStorePlugin {
    public static let type = "postgres"

    /// Whether connections use TLS.
    public enum TLSMode: String, Sendable, CaseIterable {
        case disable, prefer, require
    }

    let url: PostgresURL
    let notifyURL: PostgresURL
    public let table: String
    public let poolSize: Int
    public let pollInterval: Duration
    public let retentionInterval: Duration
    public let connectTimeout: Duration
    public let queryTimeout: Duration
    public let tls: TLSMode
    private let context: EventStoreContext
    private let urlKey: String

    public init(settings: ConfigObject, context: EventStoreContext) throws {
        self.context = context
        self.urlKey = ConfigNode.childPath(settings.path, key: "url")
        self.url = try settings.require("url") { node throws(ConfigError) in
            try PostgresURL(try node.string(), path: node.path)
        }
        self.notifyURL =
            try settings.decodeIfPresent("notifyURL") { node throws(ConfigError) in
                try PostgresURL(try node.string(), path: node.path)
            } ?? self.url
        self.table = try settings.decode("table", default: "sse_events") { node throws(ConfigError) in
            let table = try node.string()
            guard PostgresSchema.isValidName(table) else {
                throw node.error("must be a lower-case SQL name of at most 48 characters ([a-z_][a-z0-9_]*)")
            }
            return table
        }
        self.poolSize = try settings.decode("poolSize", default: 4) { node throws(ConfigError) in
            try node.int(in: 1...100)
        }
        self.pollInterval = try settings.decode("pollInterval", default: .milliseconds(100)) {
            node throws(ConfigError) in
            let interval = try node.duration()
            guard interval >= .milliseconds(10) else { throw node.error("must be at least 10ms") }
            return interval
        }
        self.retentionInterval = try settings.decode("retentionInterval", default: .seconds(10)) {
            node throws(ConfigError) in
            let interval = try node.duration()
            guard interval >= .milliseconds(100) else { throw node.error("must be at least 100ms") }
            return interval
        }
        self.connectTimeout = try settings.decode("connectTimeout", default: .seconds(5)) {
            node throws(ConfigError) in
            let timeout = try node.duration()
            guard timeout >= .milliseconds(100) else { throw node.error("must be at least 100ms") }
            return timeout
        }
        self.queryTimeout = try settings.decode("queryTimeout", default: .seconds(2)) { node throws(ConfigError) in
            let timeout = try node.duration()
            guard timeout >= .milliseconds(10) else { throw node.error("must be at least 10ms") }
            return timeout
        }
        self.tls = try settings.decode("tls", default: .prefer) { node throws(ConfigError) in
            try node.oneOf(TLSMode.self)
        }
    }

    public func open(on eventLoopGroup: any EventLoopGroup) async throws -> any EventStore {
        var client = PostgresClient.Configuration(
            host: self.url.host, port: self.url.port, username: self.url.username, password: self.url.password,
            database: self.url.database, tls: try self.clientTLS())
        client.options.maximumConnections = self.poolSize
        client.options.connectTimeout = self.connectTimeout
        var notify = PostgresConnection.Configuration(
            host: self.notifyURL.host, port: self.notifyURL.port, username: self.notifyURL.username,
            password: self.notifyURL.password, database: self.notifyURL.database, tls: try self.connectionTLS())
        notify.options.connectTimeout = .nanoseconds(
            self.connectTimeout.components.seconds * 1_000_000_000 + self.connectTimeout.components.attoseconds
                / 1_000_000_000)
        let history = self.context.history
        let settings = PostgresEventStore.Settings(
            schema: PostgresSchema(table: self.table),
            pollInterval: self.pollInterval,
            retentionInterval: self.retentionInterval,
            queryTimeout: self.queryTimeout,
            size: history.size,
            maxBytes: history.maxBytes,
            maxAge: history.maxAge,
            notify: notify)
        let configuration = client
        let logger = self.context.logger
        let timeout = self.connectTimeout
        do {
            return try await withThrowingTaskGroup(of: PostgresEventStore.self) { group in
                group.addTask {
                    try await PostgresEventStore.open(
                        client: configuration, settings: settings, eventLoopGroup: eventLoopGroup, logger: logger)
                }
                // The pool retries a refused connection for ever: the first start gives up after the timeout.
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw EventStoreError("no answer within connectTimeout (\(timeout))")
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch {
            throw ConfigError(
                path: self.urlKey,
                message: "cannot use PostgreSQL at \(self.url.host):\(self.url.port) as an event store: "
                    + "\(Self.describe(error))")
        }
    }

    private func clientTLS() throws -> PostgresClient.Configuration.TLS {
        switch self.tls {
        case .disable: return .disable
        case .prefer: return .prefer(.makeClientConfiguration())
        case .require: return .require(.makeClientConfiguration())
        }
    }

    private func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        switch self.tls {
        case .disable: return .disable
        case .prefer: return .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: return .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
    }

    /// PostgreSQL's own message when there is one (`PSQLError` hides it from `description` on purpose).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            return "\(error.code)" + (error.underlying.map { ": \($0)" } ?? "")
        }
        return "\(error)"
    }
}
