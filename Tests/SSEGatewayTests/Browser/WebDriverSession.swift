import Foundation
import NIOCore

/// A W3C WebDriver client for one browser session, enough to open a page, set a cookie and run scripts.
struct WebDriverSession {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The driver's port on 127.0.0.1.
    let port: Int
    let id: String

    /// Starts headless Chromium, with `arguments` besides the usual ones, through the driver at `port`.
    static func start(port: Int, arguments: [String] = []) async throws -> WebDriverSession {
        let capabilities: [String: Any] = [
            "capabilities": [
                "alwaysMatch": [
                    "browserName": "chrome",
                    "goog:chromeOptions": [
                        "binary": "/usr/bin/chromium",
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                            "--no-first-run", "--no-default-browser-check",
                        ] + arguments,
                    ],
                ]
            ]
        ]
        let reply = try await Self.call(port: port, "/session", method: "POST", body: capabilities)
        guard let value = reply["value"] as? [String: Any], let id = value["sessionId"] as? String else {
            throw Failure(description: "no session in \(reply)")
        }
        return WebDriverSession(port: port, id: id)
    }

    func navigate(to url: String) async throws {
        _ = try await self.command("url", body: ["url": url])
    }

    /// Adds a cookie for the current page's host (it is then sent to every port of that host).
    func addCookie(name: String, value: String, path: String = "/") async throws {
        _ = try await self.command("cookie", body: ["cookie": ["name": name, "value": value, "path": path]])
    }

    /// Runs `script` in the page and returns its result.
    func execute(_ script: String) async throws -> Any? {
        let reply = try await self.command("execute/sync", body: ["script": script, "args": [Any]()])
        return reply["value"]
    }

    /// Evaluates `expression` until it is true, checking every 20 ms up to `timeout`.
    func waitUntil(_ expression: String, timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await self.execute("return Boolean(\(expression));") as? Bool == true { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        let state = try await self.execute("return JSON.stringify(window.state);")
        throw Failure(description: "timed out waiting for \(expression); page state: \(state ?? "nil")")
    }

    func quit() async {
        _ = try? await Self.call(port: self.port, "/session/\(self.id)", method: "DELETE", body: nil)
    }

    private func command(_ path: String, body: [String: Any]) async throws -> [String: Any] {
        try await Self.call(port: self.port, "/session/\(self.id)/\(path)", method: "POST", body: body)
    }

    /// One command over its own connection (the NIO test client: Foundation's URLSession is not used in tests).
    static func call(port: Int, _ path: String, method: String, body: [String: Any]?) async throws -> [String: Any] {
        let client = try await RawClient.connect(port: port)
        let text = try body.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        try await client.sendRequest(
            method, path, headers: text == nil ? [] : ["Content-Type: application/json; charset=utf-8"], body: text)
        let response = try await client.readResponse(timeout: .seconds(60))
        try? await client.close()
        let object = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any] ?? [:]
        guard response.status == 200 else {
            throw Failure(description: "WebDriver \(method) \(path) failed with \(response.status): \(object)")
        }
        return object
    }
}
