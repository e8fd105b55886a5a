import Foundation
import JWTKit
import SSEGateway

/// A token's payload as jwt-kit decodes it.
///
/// Decoding is lenient and records the first problem instead of throwing, because jwt-kit wraps a decoding error in a
/// long generic message, and a publisher debugging a 401 needs to know which claim is wrong.
struct MercureTokenPayload: JWTPayload {
    /// The claim names, in the order they are looked for.
    static let claimNames = ["mercure", "https://mercure.rocks/"]

    var claims: MercureClaims
    /// The first claim that had the wrong shape, described for the response body.
    var problem: String?

    init(claims: MercureClaims) {
        self.claims = claims
    }

    init(from decoder: any Decoder) throws {
        self.claims = MercureClaims()
        let container = try decoder.container(keyedBy: ClaimKey.self)
        do {
            self.claims.expiresAt = try Self.date(ClaimKey("exp"), in: container)
            self.claims.notBefore = try Self.date(ClaimKey("nbf"), in: container)
            guard let name = Self.claimNames.first(where: { container.contains(ClaimKey($0)) }),
                try !container.decodeNil(forKey: ClaimKey(name))
            else { return }
            guard let mercure = try? container.nestedContainer(keyedBy: ClaimKey.self, forKey: ClaimKey(name)) else {
                throw InvalidTokenError("the \(name) claim must be an object")
            }
            self.claims.publish = try Self.selectors(ClaimKey("publish"), in: mercure, claim: name)
            self.claims.subscribe = try Self.selectors(ClaimKey("subscribe"), in: mercure, claim: name)
            if mercure.contains(ClaimKey("payload")) {
                self.claims.payload = try mercure.decode(JSONValue.self, forKey: ClaimKey("payload"))
            }
        } catch let error as InvalidTokenError {
            self.problem = error.reason
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: ClaimKey.self)
        try container.encodeIfPresent(self.claims.expiresAt?.timeIntervalSince1970, forKey: ClaimKey("exp"))
        try container.encodeIfPresent(self.claims.notBefore?.timeIntervalSince1970, forKey: ClaimKey("nbf"))
        var mercure = container.nestedContainer(keyedBy: ClaimKey.self, forKey: ClaimKey("mercure"))
        try mercure.encodeIfPresent(self.claims.publish, forKey: ClaimKey("publish"))
        try mercure.encodeIfPresent(self.claims.subscribe, forKey: ClaimKey("subscribe"))
        try mercure.encodeIfPresent(self.claims.payload.map(EncodableJSON.init), forKey: ClaimKey("payload"))
    }

    /// Nothing to do: the middleware checks `exp` and `nbf` against its own clock.
    func verify(using algorithm: some JWTAlgorithm) async throws {}

    private static func date(
        _ key: ClaimKey,
        in container: KeyedDecodingContainer<ClaimKey>
    ) throws -> Date? {
        guard container.contains(key), try !container.decodeNil(forKey: key) else { return nil }
        guard let seconds = try? container.decode(Double.self, forKey: key), seconds.isFinite else {
            throw InvalidTokenError("the \(key.stringValue) claim must be a number of seconds since 1970")
        }
        return Date(timeIntervalSince1970: seconds)
    }

    private static func selectors(
        _ key: ClaimKey,
        in container: KeyedDecodingContainer<ClaimKey>,
        claim: String
    ) throws -> [String]? {
        guard container.contains(key), try !container.decodeNil(forKey: key) else { return nil }
        guard let selectors = try? container.decode([String].self, forKey: key) else {
            throw InvalidTokenError("\(claim).\(key.stringValue) must be an array of strings")
        }
        return selectors
    }
}

private struct ClaimKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }

    init(_ name: String) {
        self.stringValue = name
    }

    init?(stringValue: String) {
        self.stringValue = stringValue
    }

    init?(intValue: Int) {
        nil
    }
}

/// Writes a ``JSONValue`` back out, for tokens built from ``MercureClaims``.
private struct EncodableJSON: Encodable {
    var value: JSONValue

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self.value {
        case .null: try container.encodeNil()
        case .bool(let bool): try container.encode(bool)
        case .integer(let integer): try container.encode(integer)
        case .number(let number): try container.encode(number)
        case .string(let string): try container.encode(string)
        case .array(let elements): try container.encode(elements.map(EncodableJSON.init))
        case .object(let members): try container.encode(members.mapValues(EncodableJSON.init))
        }
    }
}
