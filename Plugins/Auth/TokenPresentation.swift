import SSEGateway

/// Where a request carried its token, in Mercure's order of precedence.
enum TokenSource: Sendable, Equatable {
    case header
    case query
    case cookie
}

/// The token a request presents, found as the Mercure hub looks for it: the `Authorization: Bearer` header, else the
/// `authorization` query parameter, else the cookie.
///
/// A carrier that is present but unusable does not fall back to the next one: a client that sent a broken header
/// should learn about it rather than be judged by a stale cookie.
enum TokenPresentation: Equatable {
    case absent
    case token(String, TokenSource)
    case failed(AuthFailure)

    static func find(in request: RequestFacts, cookieName: String) -> TokenPresentation {
        let headers = request.headers["Authorization"]
        if headers.count > 1 {
            return .failed(.invalidRequest("send one Authorization header, not \(headers.count)"))
        }
        if let header = headers.first {
            guard let token = Self.bearerToken(header) else {
                return .failed(.invalidToken(#"the Authorization header must be "Bearer <token>""#))
            }
            return .token(token, .header)
        }
        let queryValues = request.queryValues("authorization")
        if queryValues.count > 1 {
            return .failed(.invalidRequest("send one authorization query parameter, not \(queryValues.count)"))
        }
        if let token = queryValues.first {
            guard !token.isEmpty else { return .failed(.invalidToken("the authorization query parameter is empty")) }
            return .token(token, .query)
        }
        // An empty cookie is what a logged-out client is often left with: it counts as no token.
        if let token = Self.cookie(named: cookieName, in: request), !token.isEmpty {
            return .token(token, .cookie)
        }
        return .absent
    }

    /// The credentials of `Bearer <token>`; the scheme is case-insensitive (RFC 9110 §11.1).
    ///
    /// Read on the UTF-8 bytes: it runs on every publish, and splitting the `String` walks it by grapheme.
    static func bearerToken(_ header: String) -> String? {
        let bytes = header.utf8
        let space = UInt8(ascii: " ")
        guard let schemeStart = bytes.firstIndex(where: { $0 != space }),
            let schemeEnd = bytes[schemeStart...].firstIndex(of: space),
            let tokenStart = bytes[schemeEnd...].firstIndex(where: { $0 != space })
        else { return nil }
        let tokenEnd = bytes[tokenStart...].firstIndex(of: space) ?? bytes.endIndex
        guard bytes[tokenEnd...].allSatisfy({ $0 == space }),
            bytes[schemeStart..<schemeEnd].elementsEqual("bearer".utf8, by: { $0 | 0x20 == $1 })
        else { return nil }
        return String(header[tokenStart..<tokenEnd])
    }

    /// The first cookie named `name` in the request's `Cookie` headers, without surrounding quotes.
    static func cookie(named name: String, in request: RequestFacts) -> String? {
        for header in request.headers["Cookie"] {
            for pair in header.split(separator: ";") {
                let trimmed = pair.drop(while: { $0 == " " || $0 == "\t" })
                guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals] == name else { continue }
                var value = trimmed[trimmed.index(after: equals)...]
                while value.last == " " || value.last == "\t" { value = value.dropLast() }
                if value.count >= 2, value.first == "\"", value.last == "\"" {
                    value = value.dropFirst().dropLast()
                }
                return String(value)
            }
        }
        return nil
    }
}
