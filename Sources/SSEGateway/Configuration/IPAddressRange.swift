import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A block of IP addresses in CIDR notation, used to decide which peers may use privileged endpoints such as
/// publishing.
///
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are treated as the IPv4 addresses they carry, both when parsing a
/// range and when checking a peer, because a dual-stack listener reports IPv4 clients in that form.
public struct IPAddressRange: Sendable, Hashable, CustomStringConvertible {
    /// The network address in network byte order: 4 bytes for IPv4, 16 for IPv6, host bits cleared.
    public let networkBytes: [UInt8]
    /// The number of leading bits that must match.
    public let prefixLength: Int

    /// Parses `"127.0.0.0/8"`, `"::1/128"`, or a single address such as `"10.1.2.3"` or `"::1"`.
    ///
    /// A range with host bits set, such as `"10.1.2.3/8"`, is rejected because it usually hides a mistake.
    public init(parsing text: String) throws(ConfigError) {
        func failure(_ reason: String) -> ConfigError {
            let quoted = JSONValue.string(text).shortDescription
            return ConfigError(path: "", message: "invalid IP address range \(quoted): \(reason)")
        }
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard var bytes = Self.parseAddress(String(parts[0])) else {
            throw failure("not an IPv4 or IPv6 address")
        }
        let maxPrefix = bytes.count * 8
        var prefix = maxPrefix
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isWholeNumber }),
                let parsed = Int(parts[1]), parsed <= maxPrefix
            else {
                throw failure("prefix length must be between 0 and \(maxPrefix)")
            }
            prefix = parsed
        }
        if bytes.count == 16, prefix >= 96, bytes.starts(with: Self.mappedPrefix) {
            bytes = Array(bytes[12...])
            prefix -= 96
        }
        let masked = Self.mask(bytes, prefixLength: prefix)
        guard masked == bytes else {
            let suggestion = IPAddressRange(networkBytes: masked, prefixLength: prefix)
            throw failure("host bits are set; did you mean \(suggestion)?")
        }
        self.init(networkBytes: masked, prefixLength: prefix)
    }

    private init(networkBytes: [UInt8], prefixLength: Int) {
        self.networkBytes = networkBytes
        self.prefixLength = prefixLength
    }

    /// Whether `address` lies in this range; Unix domain sockets never do.
    public func contains(_ address: SocketAddress) -> Bool {
        var bytes: [UInt8]
        switch address {
        case .v4(let v4):
            bytes = withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6):
            bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            if bytes.starts(with: Self.mappedPrefix) {
                bytes = Array(bytes[12...])
            }
        case .unixDomainSocket:
            return false
        }
        guard bytes.count == networkBytes.count else { return false }
        return Self.mask(bytes, prefixLength: prefixLength) == networkBytes
    }

    /// The canonical CIDR form, such as `127.0.0.0/8` or `::1/128`.
    public var description: String {
        "\(Self.format(networkBytes))/\(prefixLength)"
    }

    /// `127.0.0.0/8`, the IPv4 loopback block.
    public static let loopbackV4 = IPAddressRange(networkBytes: [127, 0, 0, 0], prefixLength: 8)
    /// `::1/128`, the IPv6 loopback address.
    public static let loopbackV6 = IPAddressRange(networkBytes: Array(repeating: 0, count: 15) + [1], prefixLength: 128)

    private static let mappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]

    private static func parseAddress(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: v6) { Array($0) }
        }
        return nil
    }

    private static func format(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 {
            return bytes.map(String.init).joined(separator: ".")
        }
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else {
            return bytes.map { String($0, radix: 16) }.joined(separator: ":")
        }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func mask(_ bytes: [UInt8], prefixLength: Int) -> [UInt8] {
        var result = bytes
        for index in result.indices {
            let bitsHere = min(max(prefixLength - index * 8, 0), 8)
            result[index] &= bitsHere == 0 ? 0 : ~UInt8(0) << (8 - bitsHere)
        }
        return result
    }
}

extension ConfigNode {
    /// Reads an IP address range such as `"127.0.0.0/8"` or `"::1"`, reporting problems at this node.
    public func ipAddressRange() throws(ConfigError) -> IPAddressRange {
        let text = try string()
        do {
            return try IPAddressRange(parsing: text)
        } catch {
            throw self.error(error.message)
        }
    }
}
