import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A W3C WebDriver client for one browser session, enough to open a page, set a cookie and run scripts.
struct WebDriverSession {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let endpoint: URL
    let id: String

    /// Starts headless Chromium through the driver at `endpoint`.
    static func start(endpoint: URL) async throws -> WebDriverSession {
        let capabilities: [String: Any] = [
            "capabilities": [
                "alwaysMatch": [
                    "browserName": "chrome",
                    "goog:chromeOptions": [
                        "binary": "/usr/bin/chromium",
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                            "--no-first-run", "--no-default-browser-check",
                        ],
                    ],
                ]
            ]
        ]
        let reply = try await Self.call(endpoint.appendingPathComponent("session"), method: "POST", body: capabilities)
        guard let value = reply["value"] as? [String: Any], let id = value["sessionId"] as? String else {
            throw Failure(description: "no session in \(reply)")
        }
        return WebDriverSession(endpoint: endpoint, id: id)
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
        var request = URLRequest(url: self.endpoint.appendingPathComponent("session/\(self.id)"))
        request.httpMethod = "DELETE"
        _ = try? await URLSession.shared.data(for: request)
    }

    private func command(_ path: String, body: [String: Any]) async throws -> [String: Any] {
        try await Self.call(
            self.endpoint.appendingPathComponent("session/\(self.id)/\(path)"), method: "POST", body: body)
    }

    private static func call(_ url: URL, method: String, body: [String: Any]) async throws -> [String: Any] {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        request.timeoutInterval = 60
        let (data, response) = try await URLSession.shared.data(for: request)
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        guard let http = response as? HTTPURLResponse, http.statusCode == 200 else {
            throw Failure(description: "WebDriver \(method) \(url.path) failed: \(object)")
        }
        return object
    }
}
