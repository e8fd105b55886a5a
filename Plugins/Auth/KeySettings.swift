import SSEGateway

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads a `publisher` or `subscriber` object: `{"algorithm": "HS256", "key": "…"}` or `{"algorithm": "RS256",
/// "keyFile": "path.pem"}`, reporting every problem at its JSON path.
enum KeySettings {
    /// Secrets published in the Mercure documentation and demos: anyone can sign tokens with them.
    static let demoKeys: Set<String> = ["!ChangeThisMercureHubJWTSecretKey!", "!ChangeMe!"]
    /// Key files are a few KiB at most; a larger file is the wrong file.
    static let maxKeyFileBytes = 1_048_576

    static func verifier(from node: ConfigNode, context: MiddlewareContext) throws(ConfigError) -> JWTKitVerifier {
        try node.object { object throws(ConfigError) in
            let algorithm = try object.decode("algorithm", default: SigningAlgorithm.hs256) {
                node throws(ConfigError) in try node.oneOf(SigningAlgorithm.self)
            }
            let material: [UInt8]
            let source: ConfigNode
            switch (object.node("key"), object.node("keyFile")) {
            case (nil, nil):
                throw node.error(#"set "key" (the secret, or a PEM public key) or "keyFile""#)
            case (.some, .some(let fileNode)):
                throw fileNode.error(#"set either "key" or "keyFile", not both"#)
            case (.some(let keyNode), nil):
                material = Array(try keyNode.string().utf8)
                source = keyNode
            case (nil, .some(let fileNode)):
                let path = try fileNode.string()
                var contents: [UInt8]
                switch Self.read(path) {
                case .success(let bytes): contents = bytes
                case .failure(let reason): throw fileNode.error("cannot read \(path): \(reason)")
                }
                if algorithm.isHMAC {
                    // Files written by `echo` end with a newline that is not part of the secret.
                    if contents.last == UInt8(ascii: "\n") { contents.removeLast() }
                    if contents.last == UInt8(ascii: "\r") { contents.removeLast() }
                }
                material = contents
                source = fileNode
            }
            let verifier: JWTKitVerifier
            do throws(InvalidKeyError) {
                verifier = try JWTKitVerifier(algorithm: algorithm, key: material)
            } catch {
                throw source.error(error.reason)
            }
            if algorithm.isHMAC {
                Self.adviseOnSecret(material, algorithm: algorithm, at: source.path, context: context)
            }
            return verifier
        }
    }

    private static func adviseOnSecret(
        _ secret: [UInt8],
        algorithm: SigningAlgorithm,
        at path: String,
        context: MiddlewareContext
    ) {
        if let text = String(validating: secret, as: UTF8.self), Self.demoKeys.contains(text) {
            context.warn(
                "\(path) is the public Mercure demo key \(JSONValue.string(text).description): anyone can sign "
                    + "tokens for this hub; set a secret of your own")
        } else if secret.count * 8 < algorithm.minimumSecretBits {
            context.warn(
                "\(path) is \(secret.count * 8) bits long; \(algorithm.rawValue) needs a secret of at least "
                    + "\(algorithm.minimumSecretBits) bits (RFC 7518 §3.2) to resist guessing")
        }
    }

    /// The bytes of a file, or why they cannot be read.
    static func read(_ path: String) -> Result<[UInt8], ReadFailure> {
        guard let file = fopen(path, "rb") else {
            return .failure(ReadFailure(String(cString: strerror(errno))))
        }
        defer { fclose(file) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            contents.append(contentsOf: chunk[..<count])
            if contents.count > Self.maxKeyFileBytes {
                return .failure(ReadFailure("larger than 1 MiB, which no key file is"))
            }
            if count < chunk.count {
                if ferror(file) != 0 { return .failure(ReadFailure(String(cString: strerror(errno)))) }
                return .success(contents)
            }
        }
    }

    struct ReadFailure: Error, CustomStringConvertible {
        var description: String

        init(_ description: String) {
            self.description = description
        }
    }
}
