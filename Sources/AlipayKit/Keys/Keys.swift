import Crypto
import Foundation
import _CryptoExtras

/// The signature algorithm of a request, notification or response (`sign_type`).
public enum SignType: String, Sendable, CaseIterable, Codable {
    /// SHA256withRSA, PKCS#1 v1.5: what Alipay recommends and this service defaults to.
    case rsa2 = "RSA2"
    /// SHA1withRSA, PKCS#1 v1.5: legacy accounts only.
    case rsa = "RSA"
}

/// Which key a ``KeyError`` is about, in the words an operator knows from the Alipay console.
public enum KeyRole: String, Sendable {
    /// The merchant application's private key (signs requests).
    case appPrivateKey = "app private key"
    /// The merchant application's public key (uploaded to the console; never verifies Alipay's messages).
    case appPublicKey = "app public key"
    /// Alipay's public key (verifies notifications and responses).
    case alipayPublicKey = "Alipay public key"
    /// The private key standing in for Alipay's (the sandbox and tests only).
    case alipayPrivateKey = "Alipay private key"
    /// The AES key of content encryption (接口内容加密), `alipay.encryptKeyFile`.
    case encryptionKey = "AES content encryption key"
}

/// A key that cannot be used: names the key and what was found, never the key material.
public struct KeyError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The key this error is about.
    public let role: KeyRole
    /// What is wrong with it, safe to log.
    public let problem: String

    /// Creates an error about `role`.
    public init(role: KeyRole, problem: String) {
        self.role = role
        self.problem = problem
    }

    /// "<role>: <problem>".
    public var description: String { "\(role.rawValue): \(problem)" }
}

/// An RSA private key of at least 2048 bits that signs with PKCS#1 v1.5 (`RSA2` or `RSA`).
public struct RSAPrivateKey: Sendable {
    let key: _RSA.Signing.PrivateKey

    init(key: _RSA.Signing.PrivateKey) {
        self.key = key
    }

    /// Reads a PKCS#1 or PKCS#8 key, PEM-armoured or bare base64 as the Alipay console shows it, any line breaks.
    public init(pemOrBase64 text: String, role: KeyRole = .appPrivateKey, minimumBits: Int = KeyMaterial.minimumBits) throws(KeyError) {
        let material = try KeyMaterial.parse(text, role: role)
        switch material.label {
        case nil, "PRIVATE KEY", "RSA PRIVATE KEY":
            break
        case "PUBLIC KEY", "RSA PUBLIC KEY":
            throw KeyError(role: role, problem: "found a public key (BEGIN \(material.label!)) where a private key belongs")
        case "CERTIFICATE":
            throw KeyError(role: role, problem: "found a certificate (BEGIN CERTIFICATE) where a private key belongs")
        case "ENCRYPTED PRIVATE KEY":
            throw KeyError(role: role, problem: "found an encrypted private key; decrypt it first (openssl pkcs8 -in KEY -out PLAIN)")
        case let other?:
            throw KeyError(role: role, problem: "found a PEM block 'BEGIN \(other)', expected an RSA private key (PKCS#1 or PKCS#8)")
        }
        let parsed: _RSA.Signing.PrivateKey
        do {
            parsed = try _RSA.Signing.PrivateKey(unsafeDERRepresentation: material.der)
        } catch {
            if material.label == nil, (try? _RSA.Signing.PublicKey(unsafeDERRepresentation: material.der)) != nil {
                throw KeyError(role: role, problem: "found a public key (bare base64) where a private key belongs")
            }
            throw KeyError(role: role, problem: KeyMaterial.unparsable(error, der: material.der, expected: "an RSA private key (PKCS#1 or PKCS#8)"))
        }
        try KeyMaterial.checkSize(parsed.keySizeInBits, role: role, minimum: minimumBits)
        self.key = parsed
    }

    /// Reads the key from a file; an unreadable file is a ``KeyError`` naming the path.
    public init(contentsOfFile path: String, role: KeyRole, minimumBits: Int = KeyMaterial.minimumBits) throws(KeyError) {
        try self.init(pemOrBase64: KeyMaterial.read(path, role: role), role: role, minimumBits: minimumBits)
    }

    /// A fresh 2048-bit key.
    public static func generate() throws -> RSAPrivateKey {
        RSAPrivateKey(key: try _RSA.Signing.PrivateKey(keySize: .bits2048))
    }

    /// The matching public key.
    public var publicKey: RSAPublicKey { RSAPublicKey(key: key.publicKey) }

    /// A 256-bit secret derived from this key (HKDF-SHA256 over its DER, `label` as the info): for processes that all
    /// hold this private key to authenticate data to one another, the key itself never leaving them. Another label
    /// gives an unrelated secret; nothing about the private key can be learnt from one.
    public func derivedSecret(label: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: key.derRepresentation), info: Data(label.utf8), outputByteCount: 32)
    }

    /// PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    public var pemRepresentation: String { key.pkcs8PEMRepresentation }

    /// The key size in bits.
    public var bitCount: Int { key.keySizeInBits }

    /// Base64 of the PKCS#1 v1.5 signature over the UTF-8 bytes of `message`.
    public func sign(_ message: String, type: SignType) throws -> String {
        try sign(bytes: Array(message.utf8), type: type)
    }

    /// Base64 of the PKCS#1 v1.5 signature over `bytes`; byte-identical to `openssl dgst -sha256 -sign` (or `-sha1`).
    public func sign(bytes: [UInt8], type: SignType) throws -> String {
        // The padding argument is mandatory: without it _CryptoExtras signs with PSS, which Alipay rejects.
        let signature: _RSA.Signing.RSASignature
        switch type {
        case .rsa2: signature = try key.signature(for: SHA256.hash(data: bytes), padding: .insecurePKCS1v1_5)
        case .rsa: signature = try key.signature(for: Insecure.SHA1.hash(data: bytes), padding: .insecurePKCS1v1_5)
        }
        return signature.rawRepresentation.base64EncodedString()
    }
}

/// An RSA public key of at least 2048 bits that verifies PKCS#1 v1.5 signatures.
public struct RSAPublicKey: Sendable {
    let key: _RSA.Signing.PublicKey

    init(key: _RSA.Signing.PublicKey) {
        self.key = key
    }

    /// Reads an X.509 SubjectPublicKeyInfo (or PKCS#1) key, PEM-armoured or bare base64, any line breaks.
    public init(pemOrBase64 text: String, role: KeyRole = .alipayPublicKey, minimumBits: Int = KeyMaterial.minimumBits) throws(KeyError) {
        let material = try KeyMaterial.parse(text, role: role)
        switch material.label {
        case nil, "PUBLIC KEY", "RSA PUBLIC KEY":
            break
        case "PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
            throw KeyError(role: role, problem: "found a private key (BEGIN \(material.label!)) where a public key belongs")
        case "CERTIFICATE":
            throw KeyError(
                role: role,
                problem: "found a certificate (BEGIN CERTIFICATE) where a public key belongs; for certificate mode set alipay.certFile, alipay.appCertFile and alipay.rootCertFile instead")
        case let other?:
            throw KeyError(role: role, problem: "found a PEM block 'BEGIN \(other)', expected an RSA public key (SubjectPublicKeyInfo)")
        }
        let parsed: _RSA.Signing.PublicKey
        do {
            parsed = try _RSA.Signing.PublicKey(unsafeDERRepresentation: material.der)
        } catch {
            if material.label == nil, (try? _RSA.Signing.PrivateKey(unsafeDERRepresentation: material.der)) != nil {
                throw KeyError(role: role, problem: "found a private key (bare base64) where a public key belongs")
            }
            throw KeyError(role: role, problem: KeyMaterial.unparsable(error, der: material.der, expected: "an RSA public key (SubjectPublicKeyInfo)"))
        }
        try KeyMaterial.checkSize(parsed.keySizeInBits, role: role, minimum: minimumBits)
        self.key = parsed
    }

    /// Reads the key from a file; an unreadable file is a ``KeyError`` naming the path.
    public init(contentsOfFile path: String, role: KeyRole, minimumBits: Int = KeyMaterial.minimumBits) throws(KeyError) {
        try self.init(pemOrBase64: KeyMaterial.read(path, role: role), role: role, minimumBits: minimumBits)
    }

    /// SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`).
    public var pemRepresentation: String { key.pemRepresentation }

    /// Bare base64 of the SubjectPublicKeyInfo DER, the form the Alipay console takes.
    public var base64DER: String { key.derRepresentation.base64EncodedString() }

    /// The key size in bits.
    public var bitCount: Int { key.keySizeInBits }

    /// Whether `base64Signature` is a valid PKCS#1 v1.5 signature over the UTF-8 bytes of `message`.
    public func isValidSignature(_ base64Signature: String, for message: String, type: SignType) -> Bool {
        isValidSignature(base64Signature, forBytes: Array(message.utf8), type: type)
    }

    /// Whether `base64Signature` is a valid PKCS#1 v1.5 signature over `message`; bad base64 is simply invalid.
    public func isValidSignature(_ base64Signature: String, forBytes message: [UInt8], type: SignType) -> Bool {
        guard let raw = Data(base64Encoded: base64Signature) else { return false }
        return isValidSignature(raw: raw, forBytes: message, type: type)
    }

    func isValidSignature(raw: Data, forBytes message: [UInt8], type: SignType) -> Bool {
        let signature = _RSA.Signing.RSASignature(rawRepresentation: raw)
        switch type {
        case .rsa2: return key.isValidSignature(signature, for: SHA256.hash(data: message), padding: .insecurePKCS1v1_5)
        case .rsa: return key.isValidSignature(signature, for: Insecure.SHA1.hash(data: message), padding: .insecurePKCS1v1_5)
        }
    }
}

/// Turns the text an operator pasted (PEM or bare base64) into DER, remembering the PEM label if there was one.
public enum KeyMaterial {
    public static let minimumBits = 2048
    /// What the legacy `RSA` (SHA1withRSA) accounts may still have; never less.
    public static let legacyMinimumBits = 1024

    static func parse(_ text: String, role: KeyRole) throws(KeyError) -> (label: String?, der: [UInt8]) {
        // Keys pasted into env files often carry literal "\n" sequences instead of line breaks.
        let text = text.replacingOccurrences(of: "\\n", with: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw KeyError(role: role, problem: "empty: no key found") }
        var label: String?
        var body = Substring(text)
        if let begin = text.range(of: "-----BEGIN ") {
            let afterBegin = text[begin.upperBound...]
            guard let labelEnd = afterBegin.range(of: "-----") else {
                throw KeyError(role: role, problem: "malformed PEM: 'BEGIN' line is not closed by '-----'")
            }
            let name = String(afterBegin[..<labelEnd.lowerBound])
            // A label is a few capital words on the BEGIN line. Anything else means the line lost its closing dashes
            // and the "label" ran on into the key itself, which must never be repeated in an error message.
            guard name.count <= 64, name.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == " " })
            else {
                throw KeyError(role: role, problem: "malformed PEM: the 'BEGIN' line is not closed by '-----' on the same line")
            }
            let rest = afterBegin[labelEnd.upperBound...]
            guard let end = rest.range(of: "-----END \(name)-----") else {
                throw KeyError(role: role, problem: "malformed PEM: 'BEGIN \(name)' without a matching 'END \(name)'")
            }
            body = rest[..<end.lowerBound]
            if body.contains("Proc-Type:") || body.contains("DEK-Info:") {
                throw KeyError(role: role, problem: "found an encrypted PEM key; decrypt it first (openssl rsa -in KEY -out PLAIN)")
            }
            label = name
        } else if text.contains("-----") {
            throw KeyError(role: role, problem: "malformed PEM: '-----' without a 'BEGIN' line")
        }
        let compact = String(String.UnicodeScalarView(body.unicodeScalars.filter { !$0.properties.isWhitespace }))
        guard !compact.isEmpty else { throw KeyError(role: role, problem: "empty: no key found") }
        guard let der = Data(base64Encoded: compact), !der.isEmpty else {
            let what = label == nil ? "neither PEM nor base64" : "the PEM body is not valid base64"
            throw KeyError(role: role, problem: "not a key: \(what) (\(compact.count) characters)")
        }
        return (label, [UInt8](der))
    }

    static func checkSize(_ bits: Int, role: KeyRole, minimum: Int) throws(KeyError) {
        guard bits >= max(minimum, legacyMinimumBits) else {
            let why = minimum > legacyMinimumBits ? " (RSA2 needs 2048; only alipay.signType RSA, the legacy SHA1withRSA of old accounts, takes 1024)" : ""
            throw KeyError(role: role, problem: "found a \(bits)-bit RSA key; at least \(max(minimum, legacyMinimumBits)) bits are required\(why)")
        }
    }

    static func unparsable(_ error: any Error, der: [UInt8], expected: String) -> String {
        if case CryptoKitError.incorrectParameterSize = error {
            return "found an RSA key smaller than 1024 bits; at least \(minimumBits) bits are required"
        }
        return "not \(expected): \(der.count) bytes of DER that do not parse as one"
    }

    static func read(_ path: String, role: KeyRole) throws(KeyError) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read \(path) (permissions or not UTF-8 text)" : "no file at \(path)"
            throw KeyError(role: role, problem: reason)
        }
    }
}
