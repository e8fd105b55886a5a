import JWTKit

/// A parsed verification key, ready to be installed in a jwt-kit key collection.
enum VerificationKey: Sendable {
    case hmac(HMACKey, DigestAlgorithm)
    case rsa(Insecure.RSA.PublicKey)
    case ecdsa(ES256PublicKey)

    init(algorithm: SigningAlgorithm, material: [UInt8]) throws(InvalidKeyError) {
        switch algorithm {
        case .hs256, .hs384, .hs512:
            guard !material.isEmpty else { throw InvalidKeyError("the secret must not be empty") }
            let digest: DigestAlgorithm =
                switch algorithm {
                case .hs384: .sha384
                case .hs512: .sha512
                default: .sha256
                }
            // jwt-kit refuses HMAC keys shorter than the hash output. HMAC pads a short key with zeros to its block
            // size (RFC 2104 §2), so padding it to the output length here changes no MAC: tokens signed elsewhere
            // with the short secret still verify, and the configuration warns about its length.
            let minimumBytes = algorithm.minimumSecretBits / 8
            let padded = material + [UInt8](repeating: 0, count: max(0, minimumBytes - material.count))
            self = .hmac(HMACKey(from: padded), digest)
        case .rs256, .es256:
            let pem = try Self.publicPEM(material, algorithm: algorithm)
            let isCertificate = pem.contains("-----BEGIN CERTIFICATE-----")
            if algorithm == .rs256 {
                do {
                    self = .rsa(
                        try isCertificate
                            ? Insecure.RSA.PublicKey(certificatePEM: pem) : Insecure.RSA.PublicKey(pem: pem))
                } catch {
                    if String(describing: error).contains("keySizeTooSmall") {
                        throw InvalidKeyError("RSA keys shorter than 2048 bits are refused")
                    }
                    throw InvalidKeyError("not a PEM RSA public key or certificate")
                }
            } else {
                do {
                    self = .ecdsa(try isCertificate ? ES256PublicKey(certificate: pem) : ES256PublicKey(pem: pem))
                } catch {
                    throw InvalidKeyError("not a PEM P-256 public key or certificate (ES256 needs a P-256 key)")
                }
            }
        }
    }

    private static func publicPEM(_ material: [UInt8], algorithm: SigningAlgorithm) throws(InvalidKeyError) -> String {
        guard let text = String(validating: material, as: UTF8.self), text.contains("-----BEGIN ") else {
            throw InvalidKeyError(
                "\(algorithm.rawValue) needs a PEM public key (-----BEGIN PUBLIC KEY-----) or certificate")
        }
        if text.contains("PRIVATE KEY-----") {
            throw InvalidKeyError("this is a private key; give the hub the matching public key or certificate")
        }
        return text
    }

    func install(in keys: JWTKeyCollection) async {
        switch self {
        case .hmac(let key, let digest):
            await keys.add(hmac: key, digestAlgorithm: digest)
        case .rsa(let key):
            await keys.add(rsa: key, digestAlgorithm: .sha256)
        case .ecdsa(let key):
            await keys.add(ecdsa: key)
        }
    }
}
