import AlipayKit
import Foundation
import FuzzSupport

// Input: a gateway response body (HTTP 200) with AES content encryption on, `<method>_response` being the quoted base64
// ciphertext; the same bytes as a ciphertext text, and as the bytes of a ciphertext (base64 encoded).
//
// Properties:
// - ResponseVerifier (with aes.json's key): a success, or a business answer (rejected, trade not exist), is only ever
//   given for a node text the fixture Alipay key signed (aes.json's sign strings, vectors.json's nodes), for an encrypted
//   node the quoted ciphertext as it came; a success holds the very fields of the node's plaintext; a body that is not
//   UTF-8 is retryable. An encrypted `<method>_response` that does not decrypt is retryable, or a configuration error
//   when it is signed; without the key, the same: never a success or a business answer.
// - ResponseVerifier.alipayCertSN: nil for a body that is not UTF-8; a value only from an `alipay_cert_sn` string member.
// - ContentEncryptionKey.decrypt never returns for a text that is not base64 of a whole number (≥ 1) of 16-byte blocks;
//   what it returns encrypts back to the very same ciphertext (CBC with a fixed IV is deterministic); its errors never
//   carry the key.
// - ContentEncryptionKey.encrypt of any UTF-8 text of n bytes is base64 of ⌊n/16⌋ + 1 blocks (PKCS#7 always pads), and
//   decrypts back to the same bytes.

let verifier = ResponseVerifier(alipayPublicKey: Fixtures.alipayPublicKey, signType: .rsa2, encryptionKey: Fixtures.encryptionKey)
let keylessVerifier = ResponseVerifier(alipayPublicKey: Fixtures.alipayPublicKey, signType: .rsa2)

/// Every text the fixture Alipay key signed: aes.json's sign strings, and vectors.json's nodes as sent and unescaped.
let signedNodes: Set<String> = Set(
    Fixtures.aes.responses.map(\.sign_string)
        + Fixtures.vectors.responses.filter { $0.expect != "retryable" }.flatMap { [$0.raw, $0.raw.replacingOccurrences(of: "\\/", with: "/")] })

/// Checks the fixtures before the first input, so that no property holds vacuously.
@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    let key = Fixtures.encryptionKey
    for vector in Fixtures.aes.contents {
        Property.require((try? key.decrypt(vector.ciphertext)) == vector.plaintext, "ciphertext \(vector.name) does not decrypt to its plaintext")
        Property.require((try? key.encrypt(vector.plaintext)) == vector.ciphertext, "plaintext \(vector.name) does not encrypt to its ciphertext")
    }
    for vector in Fixtures.aes.invalid_ciphertexts {
        Property.require((try? key.decrypt(vector.ciphertext)) == nil, "invalid ciphertext \(vector.name) decrypts")
    }
    // The encrypted vectors that verify must succeed here too, or "only signed text succeeds" would hold vacuously.
    var successes = 0
    for vector in Fixtures.aes.responses where vector.encrypted {
        let body = Array(vector.body.utf8)
        let succeeded =
            switch vector.method {
            case TradeRefund.method: isSuccess(verifier.outcome(for: TradeRefund.self, httpStatus: 200, body: body))
            case TradeClose.method: isSuccess(verifier.outcome(for: TradeClose.self, httpStatus: 200, body: body))
            default: isSuccess(verifier.outcome(for: TradeQuery.self, httpStatus: 200, body: body))
            }
        Property.require(succeeded == (vector.expect == "success"), "vector \(vector.name): success \(succeeded), expected \(vector.expect)")
        successes += succeeded ? 1 : 0
    }
    Property.require(successes > 0, "no encrypted response in aes.json verifies")
    return 0
}

func isSuccess<Response>(_ outcome: GatewayOutcome<Response>) -> Bool {
    if case .success = outcome { return true }
    return false
}

/// Runs libFuzzer with ``fuzz(_:_:)`` as the target.
@main
enum FuzzEncryptedResponseMain {
    static func main() { FuzzDriver.run(fuzz) }
}

/// One libFuzzer input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let body = FuzzDriver.bytes(data, size)
    checkDecrypt(Data(body).base64EncodedString(), bytes: body.count)
    guard let text = String(validating: body, as: UTF8.self) else {
        guard case .retryable = verifier.outcome(for: TradeQuery.self, httpStatus: 200, body: body) else {
            Property.violated("a body that is not UTF-8 is not retryable")
        }
        Property.require(ResponseVerifier.alipayCertSN(in: body) == nil, "an alipay_cert_sn read from a body that is not UTF-8")
        return 0
    }
    checkDecrypt(text, bytes: nil)
    checkRoundTrip(text)
    checkCertSN(body, text: text)
    if text.contains(ResponseVerifier.responseKey(method: TradeRefund.method)) {
        checkOutcome(TradeRefund.self, body: body, text: text) { response, node in
            response.code == node["code"] as? String && response.outTradeNo == node["out_trade_no"] as? String
                && response.refundFee == (node["refund_fee"] as? String).flatMap { try? Amount($0) }
        }
    } else if text.contains(ResponseVerifier.responseKey(method: TradeClose.method)) {
        checkOutcome(TradeClose.self, body: body, text: text) { response, node in
            response.code == node["code"] as? String && response.outTradeNo == node["out_trade_no"] as? String
        }
    } else {
        checkOutcome(TradeQuery.self, body: body, text: text) { response, node in
            response.code == node["code"] as? String && response.outTradeNo == node["out_trade_no"] as? String
                && response.tradeNo == node["trade_no"] as? String && response.tradeStatus?.rawValue == node["trade_status"] as? String
                && response.totalAmount == (node["total_amount"] as? String).flatMap { try? Amount($0) }
        }
    }
    return 0
}

/// The verifier's outcome: only signed text yields a success or a business answer; a success holds its plaintext.
func checkOutcome<R: AlipayRequest>(
    _ request: R.Type, body: [UInt8], text: String, sameFields: (R.Response, [String: Any]) -> Bool
) {
    let responseKey = ResponseVerifier.responseKey(method: R.method)
    let node = ResponseExtractor.rawNode(named: responseKey, in: text)
    let outcome = verifier.outcome(for: request, httpStatus: 200, body: body)
    switch outcome {
    case .success(let response):
        guard let node else { Property.violated("a success without exactly one \(responseKey)") }
        requireSigned(node, what: "a success")
        var plaintext = String(node)
        if node.first == "\"" {
            guard let ciphertext = jsonString(node) else { Property.violated("a success for a quoted node that is no JSON string") }
            do throws(ContentDecryptionError) {
                plaintext = try Fixtures.encryptionKey.decrypt(ciphertext)
            } catch {
                Property.violated("a success for an encrypted node that does not decrypt: \(error)")
            }
        }
        guard let fields = (try? JSONSerialization.jsonObject(with: Data(plaintext.utf8))) as? [String: Any] else {
            Property.violated("a success whose plaintext is not a JSON object")
        }
        Property.require(fields["code"] as? String == "10000", "a success whose code is not 10000")
        Property.require(sameFields(response, fields), "a success whose fields differ from the signed plaintext")
    case .tradeNotExist, .rejected:
        // The verifier reads error_response only when the method's node is absent.
        guard let answered = node ?? ResponseExtractor.rawNode(named: "error_response", in: text) else {
            Property.violated("a business answer without a node")
        }
        requireSigned(answered, what: "a business answer")
    case .retryable, .configurationError:
        break
    }
    guard let node, node.first == "\"" else { return }
    // An encrypted node that does not decrypt is retryable, or a configuration error (another key?) once it is signed.
    if jsonString(node).flatMap({ try? Fixtures.encryptionKey.decrypt($0) }) == nil {
        switch outcome {
        case .retryable: break
        case .configurationError: requireSigned(node, what: "a configuration error for a node that does not decrypt")
        default: Property.violated("an encrypted \(responseKey) that does not decrypt is neither retryable nor a configuration error")
        }
    }
    // Without the key an encrypted answer cannot be read: a configuration error (alipay.encryptKeyFile is missing) once
    // it is signed, retryable otherwise; never a success or a business answer.
    switch keylessVerifier.outcome(for: request, httpStatus: 200, body: body) {
    case .retryable: break
    case .configurationError: requireSigned(node, what: "a configuration error without the key")
    default: Property.violated("an encrypted \(responseKey) is trusted without the key")
    }
}

func requireSigned(_ node: Substring, what: String) {
    Property.require(
        signedNodes.contains(String(node)) || signedNodes.contains(node.replacingOccurrences(of: "\\/", with: "/")),
        "\(what) for a node Alipay's key never signed")
}

/// decrypt returns only for base64 of whole blocks, and what it returns encrypts back to the same ciphertext.
/// `bytes`: the length of the ciphertext when the caller knows it (base64 it made itself).
func checkDecrypt(_ candidate: String, bytes: Int?) {
    let key = Fixtures.encryptionKey
    do throws(ContentDecryptionError) {
        let plaintext = try key.decrypt(candidate)
        guard let ciphertext = Data(base64Encoded: candidate), !ciphertext.isEmpty, ciphertext.count % 16 == 0, bytes.map({ $0 == ciphertext.count }) ?? true
        else {
            Property.violated("decrypt returned for a text that is not base64 of whole blocks (\(candidate.utf8.count) characters)")
        }
        Property.require((try? key.encrypt(plaintext)) == ciphertext.base64EncodedString(), "a decrypted text does not encrypt back to its ciphertext")
    } catch {
        Property.require(!error.description.contains(Fixtures.aes.key), "a ContentDecryptionError carries the key")
    }
}

/// encrypt → decrypt is the identity on UTF-8 text, through whole blocks.
func checkRoundTrip(_ text: String) {
    let key = Fixtures.encryptionKey
    guard let ciphertext = try? key.encrypt(text) else { Property.violated("a UTF-8 text does not encrypt") }
    let length = Data(base64Encoded: ciphertext)?.count
    Property.require(length == (text.utf8.count / 16 + 1) * 16, "\(text.utf8.count) bytes encrypt to \(length ?? -1) bytes")
    do throws(ContentDecryptionError) {
        let plaintext = try key.decrypt(ciphertext)
        // Bytes, not String ==, which compares canonically equivalent texts as equal.
        Property.require(Array(plaintext.utf8) == Array(text.utf8), "encrypt → decrypt changed the text")
    } catch {
        Property.violated("an encrypted text does not decrypt: \(error)")
    }
}

/// alipay_cert_sn comes only from a string member of that name.
func checkCertSN(_ body: [UInt8], text: String) {
    guard let sn = ResponseVerifier.alipayCertSN(in: body) else { return }
    guard let raw = ResponseExtractor.rawNode(named: "alipay_cert_sn", in: text), raw.first == "\"" else {
        Property.violated("an alipay_cert_sn without a string member alipay_cert_sn")
    }
    if !raw.utf8.contains(UInt8(ascii: "\\")) {
        Property.require(sn == String(raw.dropFirst().dropLast()), "alipay_cert_sn differs from its member's text")
    }
}

/// One JSON string literal (quotes included) as its value.
func jsonString(_ raw: Substring) -> String? {
    (try? JSONSerialization.jsonObject(with: Data("[\(raw)]".utf8))).flatMap { $0 as? [String] }?.first
}
