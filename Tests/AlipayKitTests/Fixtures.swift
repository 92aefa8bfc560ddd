import Foundation
import Testing

@testable import AlipayKit

/// Files under Tests/AlipayKitTests/Fixtures (a copied resource folder) and the keys in it.
enum Fixture {
    static let root: URL = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!

    static func url(_ path: String) -> URL { root.appendingPathComponent(path) }

    static func text(_ path: String) throws -> String { try String(contentsOf: url(path), encoding: .utf8) }

    static func data(_ path: String) throws -> Data { try Data(contentsOf: url(path)) }

    static func key(_ name: String) throws -> String { try text("keys/\(name)") }

    /// The base64 body of a PEM file, without armour or line breaks.
    static func bareBase64(_ pem: String) -> String {
        pem.split(whereSeparator: \.isNewline).filter { !$0.hasPrefix("-----") }.joined()
    }

    static func appPrivateKey() throws -> RSAPrivateKey { try RSAPrivateKey(pemOrBase64: key("app_private_pkcs8.pem")) }
    static func appPublicKey() throws -> RSAPublicKey { try RSAPublicKey(pemOrBase64: key("app_public.pem"), role: .appPublicKey) }
    static func alipayPrivateKey() throws -> RSAPrivateKey {
        try RSAPrivateKey(pemOrBase64: key("alipay_private_pkcs8.pem"), role: .alipayPrivateKey)
    }
    static func alipayPublicKey() throws -> RSAPublicKey { try RSAPublicKey(pemOrBase64: key("alipay_public.pem")) }

    static let appId = "2021000000000001"

    static func configuration(gatewayURL: String = AlipayConfiguration.sandboxGateway) throws -> AlipayConfiguration {
        AlipayConfiguration(
            appId: appId, signType: .rsa2, appPrivateKey: try appPrivateKey(), alipayPublicKey: try alipayPublicKey(),
            gatewayURL: gatewayURL, notifyURL: "https://merchant.example.com/alipay/notify",
            returnURL: "https://merchant.example.com/alipay/return")
    }
}

/// Tests/AlipayKitTests/Fixtures/vectors.json, made by scripts/vectors/make_notification_vectors.py.
struct Vectors: Decodable {
    struct Valid: Decodable, CustomTestStringConvertible {
        struct Expect: Decodable {
            let out_trade_no: String
            let trade_status: String
            let total_amount: String
            let subject: String?
            let body: String?
            let passback_params: String?
            let fund_bill_count: Int
            let charset: String
            let refund_fee: String?
        }
        let name: String
        let sign_type: String
        let body: String
        let sign_string: String
        let expect: Expect
        var testDescription: String { name }
    }

    struct Forged: Decodable, CustomTestStringConvertible {
        let name: String
        let body: String
        let reason: String
        let diagnosis: [String]
        let verifier_sign_type: String
        var testDescription: String { name }
    }

    struct Response: Decodable, CustomTestStringConvertible {
        let name: String
        let method: String
        let body: String
        let raw: String
        let expect: String
        var testDescription: String { name }
    }

    struct Request: Decodable {
        let name: String
        let unix_time: Double
        let parameters: [String: String]
        let sign_string: String
        let sign: String
    }

    let app_id: String
    let valid: [Valid]
    let forged: [Forged]
    let responses: [Response]
    let requests: [Request]

    static let shared: Vectors = {
        do {
            return try JSONDecoder().decode(Vectors.self, from: Fixture.data("vectors.json"))
        } catch {
            fatalError("cannot read Fixtures/vectors.json: \(error)")
        }
    }()
}
