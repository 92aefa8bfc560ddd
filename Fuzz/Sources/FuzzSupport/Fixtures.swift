import AlipayKit
import Foundation

/// The committed test fixtures (Tests/AlipayKitTests/Fixtures) the fuzz targets check against, loaded once.
///
/// Found from this source file's path, so a fuzz binary runs from any directory; `ALIPAY_FUZZ_FIXTURES` overrides it.
public enum Fixtures {
    /// The folder holding `keys/`, `certificates/`, `vectors.json` and `aes.json`.
    public static let root: URL = {
        if let override = ProcessInfo.processInfo.environment["ALIPAY_FUZZ_FIXTURES"] { return URL(fileURLWithPath: override) }
        // Fuzz/Sources/FuzzSupport/Fixtures.swift → the repository root.
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return repository.appendingPathComponent("Tests/AlipayKitTests/Fixtures")
    }()

    /// The `app_id` the vectors were signed for.
    public static let appId = "2021000000000001"

    /// The public half of the key pair that plays Alipay in the vectors.
    public static let alipayPublicKey: RSAPublicKey = load("keys/alipay_public.pem") {
        try RSAPublicKey(contentsOfFile: $0, role: .alipayPublicKey)
    }

    /// vectors.json, the parts the fuzz targets use.
    public static let vectors: Vectors = load("vectors.json") {
        try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: URL(fileURLWithPath: $0)))
    }

    /// aes.json: the content encryption key, ciphertexts and encrypted gateway responses.
    public static let aes: AESVectors = load("aes.json") {
        try JSONDecoder().decode(AESVectors.self, from: Data(contentsOf: URL(fileURLWithPath: $0)))
    }

    /// The AES key of aes.json, which encrypted its ciphertexts and responses.
    public static let encryptionKey: ContentEncryptionKey = load("aes.json") { _ in try ContentEncryptionKey(base64: aes.key) }

    /// certificates/vectors.json: the SNs of the fixture certificate files.
    public static let certificateVectors: CertificateVectors = load("certificates/vectors.json") {
        try JSONDecoder().decode(CertificateVectors.self, from: Data(contentsOf: URL(fileURLWithPath: $0)))
    }

    /// The text of a certificate file in `certificates/`, e.g. `alipayRootCert.crt`.
    public static func certificateFile(_ name: String) -> String {
        load("certificates/\(name)") { try String(contentsOfFile: $0, encoding: .utf8) }
    }

    /// The absolute path of a fixture file.
    public static func path(_ name: String) -> String { root.appendingPathComponent(name).path }

    private static func load<T>(_ name: String, _ read: (String) throws -> T) -> T {
        do {
            return try read(path(name))
        } catch {
            // Not a finding: the harness cannot start. Exiting outside a fuzz callback leaves no crash artifact.
            FileHandle.standardError.write(Data("fuzz: cannot load fixture \(path(name)): \(error)\n".utf8))
            exit(2)
        }
    }
}

/// The parts of Tests/AlipayKitTests/Fixtures/vectors.json the fuzz targets use.
public struct Vectors: Decodable, Sendable {
    /// A notification body signed with the fixture Alipay key.
    public struct Valid: Decodable, Sendable {
        /// The vector's name.
        public let name: String
        /// `RSA2` or `RSA`.
        public let sign_type: String
        /// The urlencoded body as Alipay sends it.
        public let body: String
    }

    /// A notification body that must be refused (tampered, signed with the wrong key, wrong sign_type…).
    public struct Forged: Decodable, Sendable {
        /// The vector's name.
        public let name: String
        /// The urlencoded body.
        public let body: String
    }

    /// A gateway response body and the node text its signature covers.
    public struct Response: Decodable, Sendable {
        /// The vector's name.
        public let name: String
        /// The gateway method, e.g. `alipay.trade.query`.
        public let method: String
        /// The whole response body.
        public let body: String
        /// The `<method>_response` node as sent.
        public let raw: String
        /// What the verifier makes of it: success, rejected, trade_not_exist, retryable.
        public let expect: String
    }

    /// Notifications signed with the fixture key.
    public let valid: [Valid]
    /// Notification bodies that must be refused.
    public let forged: [Forged]
    /// Gateway responses, signed and tampered.
    public let responses: [Response]

    enum CodingKeys: String, CodingKey { case valid, forged, responses }
}

/// The parts of Tests/AlipayKitTests/Fixtures/aes.json the fuzz targets use.
public struct AESVectors: Decodable, Sendable {
    /// A plaintext and its ciphertext under ``AESVectors/key``.
    public struct Content: Decodable, Sendable {
        /// The vector's name.
        public let name: String
        /// The UTF-8 text.
        public let plaintext: String
        /// Base64 of its AES-CBC ciphertext (zero IV, PKCS#7).
        public let ciphertext: String
    }

    /// A text that must not decrypt (not base64, not whole blocks, bad padding, another key).
    public struct InvalidCiphertext: Decodable, Sendable {
        /// The vector's name.
        public let name: String
        /// The text.
        public let ciphertext: String
    }

    /// A gateway response body, its node encrypted or not, and the text its signature covers.
    public struct Response: Decodable, Sendable {
        /// The vector's name.
        public let name: String
        /// The gateway method, e.g. `alipay.trade.query`.
        public let method: String
        /// Whether the node is the quoted ciphertext.
        public let encrypted: Bool
        /// The whole response body.
        public let body: String
        /// The text the fixture Alipay key signed (for an encrypted answer: the quoted ciphertext).
        public let sign_string: String
        /// `success` when the signature covers the node as sent, `bad_signature` when it does not.
        public let expect: String
        /// The node's plaintext; absent when the signature does not verify.
        public let decrypted: String?
    }

    /// Base64 of the 16-byte key.
    public let key: String
    /// Plaintexts and their ciphertexts.
    public let contents: [Content]
    /// Texts that must not decrypt.
    public let invalid_ciphertexts: [InvalidCiphertext]
    /// Gateway responses with content encryption on.
    public let responses: [Response]

    enum CodingKeys: String, CodingKey { case key, contents, invalid_ciphertexts, responses }
}

/// The parts of Tests/AlipayKitTests/Fixtures/certificates/vectors.json the fuzz targets use.
public struct CertificateVectors: Decodable, Sendable {
    /// One certificate of a file.
    public struct Certificate: Decodable, Sendable {
        /// Whether its signature algorithm is RSA (1.2.840.113549.1.1.*): only those count in a root SN.
        public let rsa_signed: Bool
    }

    /// One certificate file and its SNs as python-alipay-sdk computes them.
    public struct File: Decodable, Sendable {
        /// The file name in `certificates/`.
        public let file: String
        /// `root_bundle`, `alipay_public_cert` or `app_public_cert`.
        public let kind: String
        /// The SN of the file's first certificate (absent when it is not RSA-signed).
        public let cert_sn: String?
        /// The `_`-joined SNs of its RSA-signed certificates (root bundles).
        public let root_cert_sn: String?
        /// Its certificates, in file order.
        public let certificates: [Certificate]
    }

    /// The fixture certificate files.
    public let files: [File]

    enum CodingKeys: String, CodingKey { case files }
}
