import Foundation
import Testing

@testable import AlipayKit

@Suite("Keys: every format Alipay's console and openssl produce, and clear errors for the wrong kind")
struct KeysTests {
    static func lineBroken(_ base64: String, width: Int = 64, separator: String = "\n") -> String {
        var lines: [Substring] = []
        var rest = Substring(base64)
        while !rest.isEmpty {
            lines.append(rest.prefix(width))
            rest = rest.dropFirst(width)
        }
        return lines.joined(separator: separator)
    }

    static func privateKeyForms() throws -> [(String, String)] {
        let pkcs1 = try Fixture.key("app_private_pkcs1.pem")
        let pkcs8 = try Fixture.key("app_private_pkcs8.pem")
        let bare1 = Fixture.bareBase64(pkcs1)
        let bare8 = Fixture.bareBase64(pkcs8)
        return [
            ("PKCS#1 PEM", pkcs1),
            ("PKCS#8 PEM", pkcs8),
            ("PKCS#1 PEM with CRLF", pkcs1.replacingOccurrences(of: "\n", with: "\r\n")),
            ("PKCS#8 PEM with literal \\n", pkcs8.replacingOccurrences(of: "\n", with: "\\n")),
            ("PKCS#8 PEM indented with blank lines", "\n\n  " + pkcs8.replacingOccurrences(of: "\n", with: "\n  ") + "\n\n"),
            ("PKCS#1 bare base64, one line", bare1),
            ("PKCS#8 bare base64, one line", bare8),
            ("PKCS#1 bare base64, 64 columns", lineBroken(bare1)),
            ("PKCS#8 bare base64, 76 columns CRLF", lineBroken(bare8, width: 76, separator: "\r\n")),
            ("PKCS#8 bare base64 with spaces", lineBroken(bare8, width: 50, separator: " ") + "  \n"),
        ]
    }

    @Test("every private key form loads, signs and verifies against the openssl public key")
    func privateKeyRoundTrips() throws {
        let publicKey = try Fixture.appPublicKey()
        let reference = try Fixture.appPrivateKey().sign("reference", type: .rsa2)
        for (label, text) in try Self.privateKeyForms() {
            let key = try #require(try? RSAPrivateKey(pemOrBase64: text), "\(label) must load")
            #expect(key.bitCount == 2048, "\(label)")
            #expect(key.publicKey.base64DER == publicKey.base64DER, "\(label) must have the openssl public key")
            for type in SignType.allCases {
                let signature = try key.sign("round trip 中文 \(label)", type: type)
                #expect(publicKey.isValidSignature(signature, for: "round trip 中文 \(label)", type: type), "\(label) \(type)")
                #expect(!publicKey.isValidSignature(signature, for: "round trip 中文 \(label)!", type: type), "\(label) \(type)")
            }
            #expect(try key.sign("reference", type: .rsa2) == reference, "\(label): PKCS#1 v1.5 is deterministic")
        }
    }

    @Test("every public key form loads and verifies: SPKI PEM, PKCS#1 PEM, bare base64 with and without line breaks")
    func publicKeyRoundTrips() throws {
        let spki = try Fixture.key("app_public.pem")
        let bare = Fixture.bareBase64(spki)
        let forms = [
            ("SPKI PEM", spki),
            ("PKCS#1 RSA PUBLIC KEY PEM", try Fixture.key("app_public_pkcs1.pem")),
            ("SPKI bare base64, one line", bare),
            ("SPKI bare base64, 64 columns", Self.lineBroken(bare)),
            ("SPKI bare base64, CRLF and trailing space", Self.lineBroken(bare, width: 40, separator: "\r\n") + " \r\n"),
            ("SPKI PEM with literal \\n", spki.replacingOccurrences(of: "\n", with: "\\n")),
        ]
        let signature = try Fixture.appPrivateKey().sign("message", type: .rsa2)
        for (label, text) in forms {
            let key = try #require(try? RSAPublicKey(pemOrBase64: text, role: .appPublicKey), "\(label) must load")
            #expect(key.isValidSignature(signature, for: "message", type: .rsa2), "\(label)")
            #expect(key.base64DER == bare, "\(label): base64DER is the console's bare SPKI")
        }
    }

    @Test("pemRepresentation and base64DER round trip")
    func representationsRoundTrip() throws {
        let key = try RSAPrivateKey.generate()
        #expect(key.bitCount == 2048)
        #expect(key.pemRepresentation.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let reloaded = try RSAPrivateKey(pemOrBase64: key.pemRepresentation)
        #expect(reloaded.publicKey.base64DER == key.publicKey.base64DER)
        #expect(key.publicKey.pemRepresentation.hasPrefix("-----BEGIN PUBLIC KEY-----"))
        let fromConsole = try RSAPublicKey(pemOrBase64: key.publicKey.base64DER)
        #expect(fromConsole.isValidSignature(try key.sign("x", type: .rsa2), for: "x", type: .rsa2))
    }

    static func privateKeyError(_ text: String, role: KeyRole = .appPrivateKey) -> KeyError? {
        do {
            _ = try RSAPrivateKey(pemOrBase64: text, role: role)
            return nil
        } catch {
            return error
        }
    }

    static func publicKeyError(_ text: String, role: KeyRole = .alipayPublicKey) -> KeyError? {
        do {
            _ = try RSAPublicKey(pemOrBase64: text, role: role)
            return nil
        } catch {
            return error
        }
    }

    /// No 12-character run of the key's base64 may appear in an error message.
    static func expectNoKeyMaterial(_ error: KeyError, from text: String) {
        let material = Fixture.bareBase64(text).replacingOccurrences(of: " ", with: "")
        var index = material.startIndex
        while material.distance(from: index, to: material.endIndex) >= 12 {
            let end = material.index(index, offsetBy: 12)
            #expect(!error.description.contains(material[index..<end]), "error leaks key material: \(error)")
            index = material.index(index, offsetBy: 12)
        }
    }

    @Test("wrong kinds of key are typed errors naming the key and what was found")
    func wrongKinds() throws {
        let publicPEM = try Fixture.key("app_public.pem")
        let privatePEM = try Fixture.key("app_private_pkcs1.pem")
        let cases: [(String, KeyError?, KeyRole, String)] = [
            ("public PEM as private", Self.privateKeyError(publicPEM), .appPrivateKey, "found a public key (BEGIN PUBLIC KEY) where a private key belongs"),
            ("PKCS#1 public PEM as private", Self.privateKeyError(try Fixture.key("app_public_pkcs1.pem")), .appPrivateKey,
             "found a public key (BEGIN RSA PUBLIC KEY)"),
            ("bare public base64 as private", Self.privateKeyError(Fixture.bareBase64(publicPEM)), .appPrivateKey,
             "found a public key (bare base64) where a private key belongs"),
            ("private PEM as Alipay public key", Self.publicKeyError(privatePEM), .alipayPublicKey,
             "found a private key (BEGIN RSA PRIVATE KEY) where a public key belongs"),
            ("bare private base64 as public", Self.publicKeyError(Fixture.bareBase64(try Fixture.key("app_private_pkcs8.pem"))),
             .alipayPublicKey, "found a private key (bare base64) where a public key belongs"),
            ("certificate as public", Self.publicKeyError(try Fixture.key("app_cert.pem")), .alipayPublicKey, "found a certificate"),
            ("garbage", Self.privateKeyError("this is not a key at all!"), .appPrivateKey, "not a key: neither PEM nor base64"),
            ("base64 garbage", Self.privateKeyError("aGVsbG8gd29ybGQ="), .appPrivateKey, "not an RSA private key"),
            ("empty", Self.publicKeyError("  \n "), .alipayPublicKey, "empty"),
            ("1024-bit private", Self.privateKeyError(try Fixture.key("weak1024_private.pem")), .appPrivateKey,
             "found a 1024-bit RSA key; at least 2048 bits are required"),
            ("1024-bit private, bare", Self.privateKeyError(Fixture.bareBase64(try Fixture.key("weak1024_private.pem"))), .appPrivateKey,
             "found a 1024-bit RSA key"),
            ("1024-bit public", Self.publicKeyError(try Fixture.key("weak1024_public.pem")), .alipayPublicKey, "found a 1024-bit RSA key"),
            ("EC key", Self.privateKeyError(try Fixture.key("ec_private.pem")), .appPrivateKey, "not an RSA private key"),
            ("truncated PEM", Self.privateKeyError(String(privatePEM.prefix(200))), .appPrivateKey, "malformed PEM"),
            ("role is reported", Self.privateKeyError(publicPEM, role: .alipayPrivateKey), .alipayPrivateKey, "found a public key"),
        ]
        for (label, error, role, expected) in cases {
            let error = try #require(error, "\(label) must be refused")
            #expect(error.role == role, "\(label)")
            #expect(error.description.hasPrefix(role.rawValue + ": "), "\(label): \(error)")
            #expect(error.problem.contains(expected), "\(label): \(error)")
        }
        for text in [privatePEM, try Fixture.key("weak1024_private.pem"), publicPEM] {
            if let error = Self.privateKeyError(text, role: .appPrivateKey) ?? Self.publicKeyError(text) {
                Self.expectNoKeyMaterial(error, from: text)
            }
        }
    }

    @Test("an unreadable key file names the path")
    func unreadableFile() throws {
        let path = "/nonexistent/dir/key.pem"
        #expect(throws: KeyError(role: .appPrivateKey, problem: "no file at \(path)")) {
            _ = try RSAPrivateKey(contentsOfFile: path, role: .appPrivateKey)
        }
        let key = try RSAPublicKey(contentsOfFile: Fixture.url("keys/alipay_public.pem").path, role: .alipayPublicKey)
        #expect(key.bitCount == 2048)
    }
}
