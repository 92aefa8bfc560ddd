import Foundation
import Testing

@testable import AlipayKit

/// Tests/AlipayKitTests/Fixtures/aes.json, made by scripts/vectors/make_aes_vectors.py with Alipay's official Python
/// SDK (`EncryptUtils.encrypt_content`, its response parser and request signer) and re-checked with `cryptography`.
struct AESVectors: Decodable {
    struct Content: Decodable {
        let name: String
        let plaintext: String
        let ciphertext: String
    }
    struct Invalid: Decodable {
        let name: String
        let ciphertext: String
    }
    struct ResponseVector: Decodable {
        let name: String
        let method: String
        let encrypted: Bool
        let body: String
        let expect: String
        let decrypted: String?
    }
    struct RequestVector: Decodable {
        let name: String
        let unixTime: Double
        let bizContentPlaintext: String
        let parameters: [String: String]
        let signString: String
        let sign: String
        enum CodingKeys: String, CodingKey {
            case name, unixTime = "unix_time", bizContentPlaintext = "biz_content_plaintext", parameters, signString = "sign_string", sign
        }
    }
    let key: String
    let contents: [Content]
    let invalidCiphertexts: [Invalid]
    let responses: [ResponseVector]
    let requests: [RequestVector]
    enum CodingKeys: String, CodingKey { case key, contents, invalidCiphertexts = "invalid_ciphertexts", responses, requests }

    static func load() throws -> AESVectors { try JSONDecoder().decode(AESVectors.self, from: Fixture.data("aes.json")) }
}

@Suite("AES content encryption: the official SDK's ciphertexts, encrypted answers verified as they came, then decrypted")
struct ContentEncryptionTests {
    @Test("encrypts to the official SDK's ciphertext and back (AES-CBC, zero IV, PKCS#7), Chinese text and block edges included")
    func vectors() throws {
        let vectors = try AESVectors.load()
        let key = try ContentEncryptionKey(base64: vectors.key)
        #expect(vectors.contents.count >= 6)
        for content in vectors.contents {
            #expect(try key.encrypt(content.plaintext) == content.ciphertext, "\(content.name)")
            #expect(try key.decrypt(content.ciphertext) == content.plaintext, "\(content.name)")
        }
    }

    @Test("what is not a ciphertext of this key is refused with a reason and no plaintext")
    func invalid() throws {
        let vectors = try AESVectors.load()
        let key = try ContentEncryptionKey(base64: vectors.key)
        for invalid in vectors.invalidCiphertexts {
            #expect(throws: ContentDecryptionError.self, "\(invalid.name)") { try key.decrypt(invalid.ciphertext) }
        }
    }

    @Test("a key that is not one is refused without repeating it", arguments: ["", "not base64!", "c2hvcnQ="])
    func badKeys(text: String) {
        let error = #expect(throws: KeyError.self) { try ContentEncryptionKey(base64: text) }
        #expect(error?.role == .encryptionKey)
        if !text.isEmpty { #expect(error?.description.contains(text) == false) }
    }

    @Test("answers as the official SDK parses them: the quoted ciphertext is what is signed; other signed texts are refused")
    func responses() throws {
        let vectors = try AESVectors.load()
        let verifier = ResponseVerifier(
            alipayPublicKey: try Fixture.alipayPublicKey(), signType: .rsa2, encryptionKey: try ContentEncryptionKey(base64: vectors.key))
        for vector in vectors.responses {
            let body = Array(vector.body.utf8)
            switch vector.method {
            case TradeQuery.method:
                let outcome = verifier.outcome(for: TradeQuery.self, httpStatus: 200, body: body)
                if vector.expect == "success" {
                    if vector.decrypted?.contains("\"10000\"") == true {
                        guard case .success(let response) = outcome else {
                            Issue.record("\(vector.name): expected success, got \(outcome)")
                            continue
                        }
                        #expect(response.tradeStatus == .tradeSuccess)
                        #expect(response.totalAmount == Amount(fen: 8888))
                    } else {
                        // A plain (unencrypted) error answer still classifies with encryption on.
                        #expect(ResponseVerifierTests.kind(outcome) == "configuration_error", "\(vector.name): \(outcome)")
                    }
                } else {
                    #expect(ResponseVerifierTests.kind(outcome) == "retryable", "\(vector.name) must not verify: \(outcome)")
                }
            case TradeRefund.method:
                let outcome = verifier.outcome(for: TradeRefund.self, httpStatus: 200, body: body)
                guard case .success(let response) = outcome else {
                    Issue.record("\(vector.name): expected success, got \(outcome)")
                    continue
                }
                #expect(response.fundChange == "Y")
            default:
                Issue.record("unexpected method \(vector.method)")
            }
        }
    }

    @Test("an encrypted answer without alipay.encryptKeyFile is a configuration error, and one under another key too")
    func keyMissingOrWrong() throws {
        let vectors = try AESVectors.load()
        let body = Array(try #require(vectors.responses.first { $0.name == "query_encrypted" }).body.utf8)
        let plain = ResponseVerifier(alipayPublicKey: try Fixture.alipayPublicKey())
        guard case .configurationError(let reason) = plain.outcome(for: TradeQuery.self, httpStatus: 200, body: body) else {
            Issue.record("expected a configuration error")
            return
        }
        #expect(reason.contains("alipay.encryptKeyFile"))
        let other = ResponseVerifier(alipayPublicKey: try Fixture.alipayPublicKey(), encryptionKey: ContentEncryptionKey.generate().key)
        #expect(ResponseVerifierTests.kind(other.outcome(for: TradeQuery.self, httpStatus: 200, body: body)) == "configuration_error")
    }

    @Test("a request with encryption carries encrypt_type=AES and the ciphertext, and the signature covers both (as the SDK signs it)")
    func requests() throws {
        let vectors = try AESVectors.load()
        let key = try ContentEncryptionKey(base64: vectors.key)
        let vector = try #require(vectors.requests.first)
        #expect(try key.encrypt(vector.bizContentPlaintext) == vector.parameters["biz_content"])
        #expect(SignString.forRequest(vector.parameters) == vector.signString)
        #expect(try Fixture.appPrivateKey().sign(vector.signString, type: .rsa2) == vector.sign)

        var configuration = try Fixture.configuration()
        configuration.encryptionKey = key
        let parameters = try RequestSigner(configuration: configuration).signedParameters(
            TradeQuery(outTradeNo: "ORDER000001"), now: Date(timeIntervalSince1970: vector.unixTime))
        #expect(parameters["encrypt_type"] == "AES")
        #expect(try key.decrypt(try #require(parameters["biz_content"])) == #"{"out_trade_no":"ORDER000001"}"#)
        for name in ["app_id", "charset", "format", "method", "sign_type", "timestamp", "version"] {
            #expect(parameters[name] == vector.parameters[name], "\(name)")
        }
        #expect(RequestVerifier.verify(parameters, appPublicKey: try Fixture.appPublicKey()))

        // The SDK's own request for exactly this query: every parameter AlipayKit signs, the signature included.
        let same = try #require(vectors.requests.first { $0.name == "trade_query_encrypted_by_order_number" })
        var expected = same.parameters
        expected["sign"] = same.sign
        #expect(parameters == expected)
    }
}
