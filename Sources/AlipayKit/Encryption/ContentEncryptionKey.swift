import Crypto
import Foundation
import _CryptoExtras

/// The AES key of Alipay's content encryption (接口内容加密): `biz_content` of requests and the response node are
/// AES-CBC with an all-zero IV and PKCS#7 padding, base64 text (docs/alipay-protocol.md, "AES content encryption").
///
/// The Alipay console shows the key as base64 of 16 bytes (AES-128); 24 and 32 bytes are accepted too.
public struct ContentEncryptionKey: Sendable {
    private let key: SymmetricKey

    /// The value of `encrypt_type`.
    public static let encryptType = "AES"

    /// Reads the key as the console shows it: base64, surrounding whitespace ignored. Errors never repeat the key.
    public init(base64 text: String) throws(KeyError) {
        let compact = String(String.UnicodeScalarView(text.unicodeScalars.filter { !$0.properties.isWhitespace }))
        guard !compact.isEmpty else { throw KeyError(role: .encryptionKey, problem: "empty: no key found") }
        guard let bytes = Data(base64Encoded: compact) else {
            throw KeyError(role: .encryptionKey, problem: "not base64 (\(compact.count) characters); paste the key exactly as the Alipay console shows it")
        }
        guard [16, 24, 32].contains(bytes.count) else {
            throw KeyError(role: .encryptionKey, problem: "found \(bytes.count) bytes; an AES key is 16 bytes (the console's 128-bit key), 24 or 32")
        }
        self.key = SymmetricKey(data: bytes)
    }

    /// Reads the key from a file; an unreadable file is a ``KeyError`` naming the path.
    public init(contentsOfFile path: String) throws(KeyError) {
        try self.init(base64: KeyMaterial.read(path, role: .encryptionKey))
    }

    /// A fresh 128-bit key (the sandbox and tests).
    public static func generate() -> (key: ContentEncryptionKey, base64: String) {
        let bytes = SymmetricKey(size: .bits128).withUnsafeBytes { Data($0) }
        let text = bytes.base64EncodedString()
        return (try! ContentEncryptionKey(base64: text), text)
    }

    private static let zeroIV = try! AES._CBC.IV(ivBytes: [UInt8](repeating: 0, count: 16))

    /// Base64 of the AES-CBC ciphertext of `plaintext`'s UTF-8 bytes.
    public func encrypt(_ plaintext: String) throws -> String {
        try AES._CBC.encrypt(Array(plaintext.utf8), using: key, iv: Self.zeroIV).base64EncodedString()
    }

    /// The UTF-8 plaintext of a base64 ciphertext; a ``ContentDecryptionError`` when it is not one made with this key.
    public func decrypt(_ base64Ciphertext: String) throws(ContentDecryptionError) -> String {
        guard let ciphertext = Data(base64Encoded: base64Ciphertext), !ciphertext.isEmpty else {
            throw ContentDecryptionError("the ciphertext is not base64")
        }
        guard ciphertext.count % 16 == 0 else {
            throw ContentDecryptionError("the ciphertext is \(ciphertext.count) bytes, not a whole number of AES blocks")
        }
        let plaintext: Data
        do {
            plaintext = try AES._CBC.decrypt(ciphertext, using: key, iv: Self.zeroIV)
        } catch {
            throw ContentDecryptionError("it does not decrypt with alipay.encryptKeyFile (bad padding: another key?)")
        }
        guard let text = String(validating: plaintext, as: UTF8.self) else {
            throw ContentDecryptionError("the plaintext is not UTF-8 (another key?)")
        }
        return text
    }
}

/// Why an encrypted text could not be decrypted; never contains the key or the plaintext.
public struct ContentDecryptionError: Error, CustomStringConvertible, Sendable {
    /// The reason.
    public let description: String
    init(_ description: String) { self.description = description }
}
