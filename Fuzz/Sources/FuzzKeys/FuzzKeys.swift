import AlipayKit
import Foundation
import FuzzSupport

// Input: the contents of a key file (ALIPAY_PUBLIC_KEY_FILE, the app private key file) or a key pasted as text.
//
// Properties:
// - Loading from the file and from the same text agree: both load, or both refuse with the same message; a file that
//   is not UTF-8 is refused by both loaders.
// - No text loads as both a public and a private key.
// - A refusal names the role it was asked for and never repeats key material: no run of 40 or more base64 characters
//   of the input, lower-case letters among them, appears in the message.
// - A loaded key has at least 2048 bits and survives its own PEM (and, for a public key, bare base64) unchanged; a
//   loaded private key (up to 4096 bits, to keep the run fast) signs, and its public key verifies that signature.

/// The per-process file the loaders read, as the daemons read their key files.
let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-keys-\(getpid()).pem").path

/// Creates the key file before the first input and removes it at exit.
@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    guard FileManager.default.createFile(atPath: keyFile, contents: nil) else {
        FileHandle.standardError.write(Data("fuzz: cannot create \(keyFile)\n".utf8))
        exit(2)
    }
    atexit { unlink(keyFile) }
    return 0
}

/// Runs libFuzzer with ``fuzz(_:_:)`` as the target.
@main
enum FuzzKeysMain {
    static func main() { FuzzDriver.run(fuzz) }
}

/// One libFuzzer input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = FuzzDriver.bytes(data, size)
    // Not for an empty input: Foundation 6.3.1 leaks the 4 KiB buffer it reads an empty file into (swift-foundation's
    // zero-size read path), which LeakSanitizer reports; the text loaders below still see the empty input.
    guard !bytes.isEmpty else {
        Property.require((try? RSAPublicKey(pemOrBase64: "")) == nil && (try? RSAPrivateKey(pemOrBase64: "")) == nil, "an empty text loaded")
        return 0
    }
    guard FileManager.default.createFile(atPath: keyFile, contents: Data(bytes)) else { Property.violated("cannot write \(keyFile)") }
    let publicFromFile = load { () throws(KeyError) in try RSAPublicKey(contentsOfFile: keyFile, role: .alipayPublicKey) }
    let privateFromFile = load { () throws(KeyError) in try RSAPrivateKey(contentsOfFile: keyFile, role: .appPrivateKey) }
    guard let text = String(validating: bytes, as: UTF8.self) else {
        Property.require(publicFromFile.key == nil && privateFromFile.key == nil, "a key file that is not UTF-8 loaded")
        return 0
    }
    let publicKey = load { () throws(KeyError) in try RSAPublicKey(pemOrBase64: text, role: .alipayPublicKey) }
    let privateKey = load { () throws(KeyError) in try RSAPrivateKey(pemOrBase64: text, role: .appPrivateKey) }

    // Foundation drops a byte order mark when it reads a file; the text loaders see it.
    if !text.hasPrefix("\u{FEFF}") {
        Property.require(publicFromFile.outcome == publicKey.outcome, "public key: the file gives \(publicFromFile.outcome), the text \(publicKey.outcome)")
        Property.require(privateFromFile.outcome == privateKey.outcome, "private key: the file gives \(privateFromFile.outcome), the text \(privateKey.outcome)")
    }
    Property.require(publicKey.key == nil || privateKey.key == nil, "the same text loads as a public and as a private key")
    for (error, role) in [(publicKey.error, KeyRole.alipayPublicKey), (privateKey.error, .appPrivateKey), (publicFromFile.error, .alipayPublicKey), (privateFromFile.error, .appPrivateKey)] {
        guard let error else { continue }
        Property.require(error.role == role, "a KeyError for \(role.rawValue) names \(error.role.rawValue)")
        requireNoKeyMaterial(in: error.description, input: text)
    }
    if let key = publicKey.key { checkPublic(key) }
    if let key = privateKey.key { checkPrivate(key) }
    return 0
}

func checkPublic(_ key: RSAPublicKey) {
    Property.require(key.bitCount >= 2048, "loaded a \(key.bitCount)-bit public key")
    guard let fromPEM = try? RSAPublicKey(pemOrBase64: key.pemRepresentation), let fromBase64 = try? RSAPublicKey(pemOrBase64: key.base64DER) else {
        Property.violated("a loaded public key does not load from its own PEM or base64")
    }
    Property.require(fromPEM.base64DER == key.base64DER && fromBase64.base64DER == key.base64DER, "a public key changed through its own PEM or base64")
}

func checkPrivate(_ key: RSAPrivateKey) {
    Property.require(key.bitCount >= 2048, "loaded a \(key.bitCount)-bit private key")
    Property.require(key.publicKey.bitCount == key.bitCount, "a private key's public key has another size")
    guard let fromPEM = try? RSAPrivateKey(pemOrBase64: key.pemRepresentation) else { Property.violated("a loaded private key does not load from its own PEM") }
    Property.require(fromPEM.publicKey.base64DER == key.publicKey.base64DER, "a private key changed through its own PEM")
    guard key.bitCount <= 4096 else { return }
    guard let signature = try? key.sign("fuzz", type: .rsa2) else { Property.violated("a loaded private key cannot sign") }
    Property.require(key.publicKey.isValidSignature(signature, for: "fuzz", type: .rsa2), "a loaded private key signs what its public key refuses")
}

/// A message must not carry key material: no run of 40 base64 characters, lower-case letters among them, that is
/// also in the input.
func requireNoKeyMaterial(in message: String, input: String) {
    var redacted = ""
    var leaked = false
    var run = ""
    for scalar in message.unicodeScalars + [" "] {
        if scalar.properties.isASCIIHexDigit || ("g"..."z").contains(scalar) || ("G"..."Z").contains(scalar) || scalar == "+" || scalar == "/" {
            run.unicodeScalars.append(scalar)
            continue
        }
        // Forty base64 characters of a real key hold lower-case letters (all but ~1e-9 of the time); a PEM label does not.
        if run.unicodeScalars.count >= 40, run.unicodeScalars.contains(where: { ("a"..."z").contains($0) }), input.contains(run) {
            leaked = true
            run = "<\(run.unicodeScalars.count) characters of the key>"
        }
        redacted += run
        redacted.unicodeScalars.append(scalar)
        run = ""
    }
    // The report shows the message with every such run replaced, so a crash log carries no key either.
    Property.require(!leaked, "a KeyError repeats key material: \(redacted.prefix(400))")
}

/// What a loader made of the input: the key, or the error.
struct Loaded<Key> {
    let key: Key?
    let error: KeyError?

    /// "loaded" or the message, to compare two loaders.
    var outcome: String { error.map(\.description) ?? "loaded" }
}

func load<Key>(_ body: () throws(KeyError) -> Key) -> Loaded<Key> {
    do {
        return Loaded(key: try body(), error: nil)
    } catch {
        return Loaded(key: nil, error: error)
    }
}
