import Foundation
import SSEGateway

/// The parts of a `postgres://user:password@host:port/database` URL that a connection needs.
struct PostgresURL: Sendable, Equatable {
    var host: String
    var port: Int
    var username: String
    var password: String?
    var database: String?

    /// Reads `text`, or throws a ``ConfigError`` at `path` saying what is wrong (the password is never repeated).
    init(_ text: String, path: String) throws(ConfigError) {
        func failure(_ reason: String) -> ConfigError {
            ConfigError(path: path, message: "\(reason) (expected postgres://user:password@host:port/database)")
        }
        guard let components = URLComponents(string: text) else { throw failure("not a URL") }
        guard components.scheme == "postgres" || components.scheme == "postgresql" else {
            throw failure("the scheme must be postgres or postgresql")
        }
        guard let host = components.host, !host.isEmpty else { throw failure("no host") }
        guard let user = components.user, !user.isEmpty else { throw failure("no user") }
        if let port = components.port, !(1...65535).contains(port) { throw failure("the port must be 1–65535") }
        guard components.query == nil, components.fragment == nil else {
            throw failure("query parameters are not read; use the store's settings")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = components.port ?? 5432
        self.username = user.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database.isEmpty ? nil : (database.removingPercentEncoding ?? database)
    }
}
