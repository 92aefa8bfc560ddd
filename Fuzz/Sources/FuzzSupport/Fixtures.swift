import AlipayKit
import Foundation

/// The committed test fixtures (Tests/AlipayKitTests/Fixtures) the fuzz targets check against, loaded once.
///
/// Found from this source file's path, so a fuzz binary runs from any directory; `ALIPAY_FUZZ_FIXTURES` overrides it.
public enum Fixtures {
    /// The folder holding `keys/` and `vectors.json`.
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
