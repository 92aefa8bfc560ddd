import Foundation
import Testing

@testable import AlipayKit

@Suite("Signatures are byte-identical to openssl dgst -sign (vectors from scripts/vectors/make_signature_vectors.sh)")
struct SignatureVectorTests {
    static let names = ["ascii", "empty", "chinese", "emoji", "long", "request-sign-string", "notification-sign-string"]

    @Test("RSA2 (SHA256withRSA) and RSA (SHA1withRSA) match openssl", arguments: names)
    func matchesOpenSSL(name: String) throws {
        let message = [UInt8](try Fixture.data("signatures/\(name).txt"))
        let keys = [try Fixture.appPrivateKey(), try RSAPrivateKey(pemOrBase64: Fixture.key("app_private_pkcs1.pem"))]
        let publicKey = try Fixture.appPublicKey()
        for (type, file) in [(SignType.rsa2, "rsa2"), (.rsa, "rsa")] {
            let expected = try Fixture.text("signatures/\(name).\(file)").trimmingCharacters(in: .whitespacesAndNewlines)
            for key in keys {
                #expect(try key.sign(bytes: message, type: type) == expected, "\(name) \(type)")
            }
            #expect(publicKey.isValidSignature(expected, forBytes: message, type: type))
            let other: SignType = type == .rsa2 ? .rsa : .rsa2
            #expect(!publicKey.isValidSignature(expected, forBytes: message, type: other), "a \(type) signature is not a \(other) one")
        }
    }

    @Test("the String overload signs the UTF-8 bytes")
    func stringOverloadIsUTF8() throws {
        let text = try Fixture.text("signatures/chinese.txt")
        let expected = try Fixture.text("signatures/chinese.rsa2").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try Fixture.appPrivateKey().sign(text, type: .rsa2) == expected)
    }

    @Test("verification refuses bad base64, wrong length and the wrong key")
    func verificationRefuses() throws {
        let key = try Fixture.appPublicKey()
        let signature = try Fixture.appPrivateKey().sign("m", type: .rsa2)
        #expect(key.isValidSignature(signature, for: "m", type: .rsa2))
        #expect(!key.isValidSignature("not base64!", for: "m", type: .rsa2))
        #expect(!key.isValidSignature("", for: "m", type: .rsa2))
        #expect(!key.isValidSignature(String(signature.dropLast(4)), for: "m", type: .rsa2))
        #expect(!key.isValidSignature(signature + "AAAA", for: "m", type: .rsa2))
        #expect(!(try Fixture.alipayPublicKey()).isValidSignature(signature, for: "m", type: .rsa2))
    }
}
