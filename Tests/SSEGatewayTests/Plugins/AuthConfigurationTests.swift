import Foundation
import JWTKit
import Testing

@testable import Auth
@testable import SSEGateway

extension AuthTests {
    @Suite("Auth settings: errors at their JSON path, and warnings")
    struct SettingsTests {
        static let publisher = #""publisher": {"key": "publisher-secret-for-tests-0123456789abcdef"}"#
        static let subscriber = #""subscriber": {"key": "subscriber-secret-for-tests-0123456789abcdef"}"#

        /// Builds the chain of `{"middleware": [entries]}` as `check-config` does, returning the warnings.
        static func check(_ entries: String) throws(ConfigError) -> [String] {
            let configuration = try GatewayConfiguration(jsonString: #"{"middleware": [\#(entries)]}"#)
            return try GatewayServer.check(configuration: configuration, registry: .plugins)
        }

        static func quoted(_ text: String) -> String {
            JSONValue.string(text).description
        }

        @Test func aValidConfigurationRaisesNoWarning() throws {
            #expect(try Self.check(#"{"use": "auth", \#(Self.publisher), \#(Self.subscriber)}"#) == [])
            #expect(
                try Self.check(#"{"use": "auth", "anonymous": true, "publishWithoutTokenFrom": ["10.0.0.0/8"]}"#) == [])
        }

        @Test(
            arguments: [
                (
                    #"{"use": "auth", \#(SettingsTests.publisher)}"#,
                    ConfigError(
                        path: "middleware[0].subscriber",
                        message: "required key is missing: subscribers need a key unless anonymous is true")
                ),
                (
                    #"{"use": "auth", "anonymous": true}"#,
                    ConfigError(
                        path: "middleware[0].publisher",
                        message:
                            "required key is missing: publishers need a key unless publishWithoutTokenFrom lists them"
                    )
                ),
                (
                    #"{"use": "auth", \#(SettingsTests.subscriber), "publisher": {"algorithm": "HS256"}}"#,
                    ConfigError(
                        path: "middleware[0].publisher",
                        message: #"set "key" (the secret, or a PEM public key) or "keyFile""#)
                ),
                (
                    #"{"use": "auth", \#(SettingsTests.subscriber), "publisher": {"algorithm": "none", "key": "x"}}"#,
                    ConfigError(
                        path: "middleware[0].publisher.algorithm",
                        message: #"expected one of HS256, HS384, HS512, RS256, ES256, got "none""#)
                ),
                (
                    #"{"use": "auth", \#(SettingsTests.subscriber), "publisher": {"key": "x", "keyFile": "/etc/key"}}"#,
                    ConfigError(
                        path: "middleware[0].publisher.keyFile", message: #"set either "key" or "keyFile", not both"#)
                ),
                (
                    #"{"use": "auth", \#(SettingsTests.subscriber), "publisher": {"secret": "x", "key": "y"}}"#,
                    ConfigError(
                        path: "middleware[0].publisher.secret",
                        message: "unknown key; known keys: algorithm, key, keyFile")
                ),
                (
                    #"{"use": "auth", \#(SettingsTests.subscriber), "publisher": {"key": ""}}"#,
                    ConfigError(path: "middleware[0].publisher.key", message: "the secret must not be empty")
                ),
                (
                    #"{"use": "auth", \#(SettingsTests.publisher), "subscriber": {"algorithm": "RS256", "key": "secret"}}"#,
                    ConfigError(
                        path: "middleware[0].subscriber.key",
                        message: "RS256 needs a PEM public key (-----BEGIN PUBLIC KEY-----) or certificate")
                ),
                (
                    #"{"use": "auth", \#(SettingsTests.publisher), "subscriber": {"algorithm": "RS256", "key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}}"#,
                    ConfigError(
                        path: "middleware[0].subscriber.key", message: "not a PEM RSA public key or certificate")
                ),
                (
                    #"{"use": "auth", \#(SettingsTests.publisher), \#(SettingsTests.subscriber), "anonymous": "yes"}"#,
                    ConfigError(path: "middleware[0].anonymous", message: #"expected a boolean, got "yes""#)
                ),
                (
                    #"{"use": "auth", \#(SettingsTests.publisher), \#(SettingsTests.subscriber), "cookieName": "a b"}"#,
                    ConfigError(
                        path: "middleware[0].cookieName",
                        message: "not a cookie name: use letters, digits and !#$%&'*+-.^_`|~")
                ),
                (
                    #"{"use": "auth", \#(SettingsTests.publisher), \#(SettingsTests.subscriber), "publishOrigins": ["https://a.example", "https://b.example/app"]}"#,
                    ConfigError(
                        path: "middleware[0].publishOrigins[1]",
                        message:
                            #"expected an origin like "https://example.com" (scheme, host and port only) or "*", got "https://b.example/app""#
                    )
                ),
                (
                    #"{"use": "auth", \#(SettingsTests.publisher), \#(SettingsTests.subscriber), "publishWithoutTokenFrom": ["10.0.0.1/8"]}"#,
                    ConfigError(
                        path: "middleware[0].publishWithoutTokenFrom[0]",
                        message: #"invalid IP address range "10.0.0.1/8": host bits are set; did you mean 10.0.0.0/8?"#)
                ),
                (
                    #"{"use": "auth", \#(SettingsTests.publisher), \#(SettingsTests.subscriber), "jwtKey": "x"}"#,
                    ConfigError(
                        path: "middleware[0].jwtKey",
                        message:
                            "unknown key; known keys: anonymous, cookieName, name, publishOrigins, publishWithoutTokenFrom, publisher, subscriber, tokenCacheSize, use"
                    )
                ),
            ])
        func badSettingsAreNamedByPath(entry: String, expected: ConfigError) {
            #expect(throws: expected) { try Self.check(entry) }
        }

        @Test func unreadableAndUnsuitableKeyFilesAreNamedByPath() throws {
            let outer = #"{"use": "auth", "name": "outer", \#(Self.publisher), \#(Self.subscriber)}"#
            func inner(_ subscriberKey: String) -> String {
                #"\#(outer), {"use": "auth", \#(Self.publisher), "subscriber": \#(subscriberKey)}"#
            }
            #expect(
                throws: ConfigError(
                    path: "middleware[1].subscriber.keyFile",
                    message: "cannot read /nonexistent/subscriber.pem: No such file or directory")
            ) { try Self.check(inner(#"{"algorithm": "RS256", "keyFile": "/nonexistent/subscriber.pem"}"#)) }
            let directory = FileManager.default.temporaryDirectory.path
            #expect(
                throws: ConfigError(
                    path: "middleware[1].subscriber.keyFile", message: "cannot read \(directory): Is a directory")
            ) { try Self.check(inner(#"{"algorithm": "RS256", "keyFile": \#(Self.quoted(directory))}"#)) }
            let privatePath = try writeTemporaryFile(ES256PrivateKey().pemRepresentation, name: "private.pem")
            #expect(
                throws: ConfigError(
                    path: "middleware[1].subscriber.keyFile",
                    message: "this is a private key; give the hub the matching public key or certificate")
            ) { try Self.check(inner(#"{"algorithm": "ES256", "keyFile": \#(Self.quoted(privatePath))}"#)) }
            let rsaPath = try writeTemporaryFile(AuthFixture.rsaKey.publicKey.pemRepresentation, name: "rsa.pem")
            #expect(
                throws: ConfigError(
                    path: "middleware[1].subscriber.keyFile",
                    message: "not a PEM P-256 public key or certificate (ES256 needs a P-256 key)")
            ) { try Self.check(inner(#"{"algorithm": "ES256", "keyFile": \#(Self.quoted(rsaPath))}"#)) }
            #expect(try Self.check(inner(#"{"algorithm": "RS256", "keyFile": \#(Self.quoted(rsaPath))}"#)) == [])
        }

        @Test func theDemoKeyAndShortSecretsWarn() throws {
            let demo = "!ChangeThisMercureHubJWTSecretKey!"
            let warnings = try Self.check(
                #"{"use": "auth", "publisher": {"key": "\#(demo)"}, "subscriber": {"algorithm": "HS512", "key": "short"}}"#
            )
            #expect(
                warnings == [
                    "middleware[0].publisher.key is the public Mercure demo key \"\(demo)\": anyone can sign tokens for "
                        + "this hub; set a secret of your own",
                    "middleware[0].subscriber.key is 40 bits long; HS512 needs a secret of at least 512 bits "
                        + "(RFC 7518 §3.2) to resist guessing",
                ])
            let demoFile = try writeTemporaryFile(demo + "\n", name: "demo.key")
            let fromFile = try Self.check(
                #"{"use": "auth", "anonymous": true, "publisher": {"keyFile": \#(Self.quoted(demoFile))}}"#)
            #expect(
                fromFile == [
                    "middleware[0].publisher.keyFile is the public Mercure demo key \"\(demo)\": anyone can "
                        + "sign tokens for this hub; set a secret of your own"
                ])
        }

        @Test func openPublishingSettingsWarn() throws {
            let warnings = try Self.check(
                #"{"use": "auth", \#(Self.publisher), \#(Self.subscriber), "publishOrigins": ["*"], "publishWithoutTokenFrom": ["0.0.0.0/0"]}"#
            )
            #expect(
                warnings == [
                    "middleware[0].publishOrigins contains \"*\": any web site can publish with its visitors' "
                        + "mercureAuthorization cookie",
                    "middleware[0].publishWithoutTokenFrom contains 0.0.0.0/0: anyone can publish without a token",
                ])
        }
    }
}
