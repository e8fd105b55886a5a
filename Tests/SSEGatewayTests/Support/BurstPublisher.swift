import Glibc

/// Publishes a numbered sequence over several keep-alive connections from one thread, as a load generator does:
/// each publish goes out on the first connection whose previous answer has arrived, as soon as there is one, so
/// several are in flight on different connections at once and the next one follows an answer within microseconds.
///
/// Plain blocking sockets and `poll`, so the send order is exactly the sequence order.
struct BurstPublisher {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let port: Int
    let connections: Int
    /// Extra request header lines (an `Authorization`, say).
    var headers: [String] = []

    /// Sends `count` publishes to `topic`, with ids `prefix0`, `prefix1`, …, and returns once every answer has
    /// arrived; throws when one is not a 200 or the gateway stalls for `timeoutMilliseconds`.
    func publish(count: Int, topic: String, prefix: String, timeoutMilliseconds: Int32 = 10_000) throws {
        var sockets: [CInt] = []
        defer { for socket in sockets { close(socket) } }
        for _ in 0..<self.connections { sockets.append(try self.connect()) }
        // One publish on each connection in turn, each answered before the next, so that every connection has been
        // accepted and has served a request before the burst: a request on a connection the gateway has not yet
        // accepted is read when it accepts it.
        var received = [[UInt8]](repeating: [], count: sockets.count)
        for (index, socket) in sockets.enumerated() {
            try self.send(self.request(topic: topic + "-warm-up", id: "w\(index)"), on: socket)
            while true {
                var polls = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0)]
                guard poll(&polls, 1, timeoutMilliseconds) > 0 else {
                    throw Failure(description: "no answer to a warm-up publish within \(timeoutMilliseconds) ms")
                }
                try self.receive(on: socket, into: &received[index])
                if let (status, length) = Self.response(in: received[index]) {
                    guard status == 200 else { throw Failure(description: "a publish was answered \(status)") }
                    received[index].removeFirst(length)
                    break
                }
            }
        }
        var busy = [Bool](repeating: false, count: sockets.count)
        var sent = 0
        var answered = 0
        while answered < count {
            while sent < count, let idle = busy.firstIndex(of: false) {
                try self.send(self.request(topic: topic, id: "\(prefix)\(sent)"), on: sockets[idle])
                busy[idle] = true
                sent += 1
            }
            var polls = sockets.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&polls, nfds_t(polls.count), timeoutMilliseconds) > 0 else {
                throw Failure(description: "no answer within \(timeoutMilliseconds) ms; \(answered) of \(count)")
            }
            for index in polls.indices where polls[index].revents != 0 {
                try self.receive(on: sockets[index], into: &received[index])
                while let (status, length) = Self.response(in: received[index]) {
                    guard status == 200 else { throw Failure(description: "a publish was answered \(status)") }
                    received[index].removeFirst(length)
                    busy[index] = false
                    answered += 1
                }
            }
        }
    }

    private func receive(on socket: CInt, into received: inout [UInt8]) throws {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let read = recv(socket, &chunk, chunk.count, 0)
        guard read > 0 else { throw Failure(description: "the gateway closed a publisher connection") }
        received += chunk[..<read]
    }

    private func connect() throws -> CInt {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(self.port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(socket)
            throw Failure(description: "cannot connect to 127.0.0.1:\(self.port)")
        }
        var one: CInt = 1
        setsockopt(socket, CInt(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<CInt>.size))
        return socket
    }

    private func request(topic: String, id: String) -> [UInt8] {
        let body = "topic=\(topic)&id=\(id)&data=\(id)"
        var head = "POST /.well-known/mercure HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n"
        for header in self.headers { head += header + "\r\n" }
        return Array((head + "\r\n" + body).utf8)
    }

    private func send(_ bytes: [UInt8], on socket: CInt) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, 0) }
            guard written > 0 else { throw Failure(description: "a publish could not be sent") }
            offset += written
        }
    }

    /// The status and length of the first complete response in `bytes` (answers carry `Content-Length`).
    private static func response(in bytes: [UInt8]) -> (status: Int, length: Int)? {
        guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
        let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self)
        let lines = head.split(separator: "\r\n")
        guard let statusLine = lines.first, let status = Int(statusLine.split(separator: " ")[1]) else { return nil }
        let contentLength =
            lines.dropFirst().first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].filter { $0 != " " }) } ?? 0
        let total = end.upperBound + contentLength
        return bytes.count >= total ? (status, total) : nil
    }
}
