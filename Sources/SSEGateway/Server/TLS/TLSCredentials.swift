import Foundation
import NIOSSL

/// The certificate chain and key that `server.tls` names, read from their files into a server context that offers
/// `protocols` by ALPN.
///
/// Every failure is a ``ConfigError`` naming the key whose file is at fault, with the reason: the operator reads it
/// at startup, or in the log of a reload, which keeps the previous context.
struct TLSCredentials {
    let context: NIOSSLContext
    /// What the files looked like when read, to notice a renewal.
    let stamp: [FileStamp]

    /// Identifies a file's content cheaply: a renewal that replaces or rewrites the file changes one of these.
    struct FileStamp: Equatable {
        var inode: UInt64
        var size: UInt64
        var modified: Int64
        var modifiedNanoseconds: Int64

        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            self.inode = UInt64(info.st_ino)
            self.size = UInt64(info.st_size)
            self.modified = Int64(info.st_mtim.tv_sec)
            self.modifiedNanoseconds = Int64(info.st_mtim.tv_nsec)
        }
    }

    static func stamps(of tls: GatewayConfiguration.Server.TLS, baseDirectory: String) -> [FileStamp?] {
        [tls.certificateFile, tls.keyFile].map { FileStamp(path: Self.resolve($0, baseDirectory: baseDirectory)) }
    }

    static func resolve(_ path: String, baseDirectory: String) -> String {
        URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: baseDirectory, isDirectory: true)).path
    }

    static func load(
        _ tls: GatewayConfiguration.Server.TLS,
        baseDirectory: String,
        protocols: [String]
    ) throws(ConfigError) -> TLSCredentials {
        let certificatePath = Self.resolve(tls.certificateFile, baseDirectory: baseDirectory)
        let keyPath = Self.resolve(tls.keyFile, baseDirectory: baseDirectory)
        let certificateKey = ConfigNode.childPath(tls.path, key: "certificateFile")
        let keyKey = ConfigNode.childPath(tls.path, key: "keyFile")
        // Stamped before reading: a change made while reading is seen by the next check.
        let stamp = [certificatePath, keyPath].compactMap(FileStamp.init(path:))

        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(try Self.read(certificatePath, key: certificateKey))
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(path: certificateKey, message: "no PEM certificate in \(certificatePath) (\(error))")
        }
        guard !chain.isEmpty else {
            throw ConfigError(path: certificateKey, message: "no PEM certificate in \(certificatePath)")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: try Self.read(keyPath, key: keyKey), format: .pem)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(path: keyKey, message: "no PEM private key in \(keyPath) (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.applicationProtocols = protocols
        do {
            return TLSCredentials(context: try NIOSSLContext(configuration: configuration), stamp: stamp)
        } catch NIOSSLError.failedToLoadPrivateKey {
            throw ConfigError(
                path: keyKey, message: "the key in \(keyPath) does not match the certificate in \(certificatePath)")
        } catch {
            throw ConfigError(path: tls.path, message: "cannot use the certificate and key: \(error)")
        }
    }

    private static func read(_ path: String, key: String) throws(ConfigError) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            let reason = errno == ENOENT ? "no such file" : String(cString: strerror(errno))
            throw ConfigError(path: key, message: "cannot read \(path): \(reason)")
        }
        defer { try? handle.close() }
        do {
            return Array(try handle.readToEnd() ?? Data())
        } catch {
            throw ConfigError(path: key, message: "cannot read \(path): \(error.localizedDescription)")
        }
    }
}
