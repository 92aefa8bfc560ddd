import AlipayKit
import Foundation
import FuzzSupport

// Input: a gateway response body (HTTP 200).
//
// Properties:
// - ResponseExtractor: a node it returns is a whole value right after its member's ':'; on a body that is exactly one
//   valid JSON object (StrictJSON, an independent RFC 8259 recogniser), the node of a key spelled once is exactly that
//   member's value, byte for byte, and a key spelled more than once has no node.
// - ResponseVerifier: a success, or a business answer (rejected, trade not exist), is only ever given for a node text
//   Alipay's fixture key signed in vectors.json, and a success holds the very fields of that node; a body that is not
//   UTF-8 is retryable.

let verifier = ResponseVerifier(alipayPublicKey: Fixtures.alipayPublicKey, signType: .rsa2)

/// The node texts signed in vectors.json, as sent and with `\/` unescaped (the Java SDK's second try).
let signedNodes: Set<String> = Set(
    Fixtures.vectors.responses.filter { $0.expect != "retryable" }.flatMap { [$0.raw, $0.raw.replacingOccurrences(of: "\\/", with: "/")] })

/// Members a verifier looks for, checked on every body whether or not it is valid JSON.
let wellKnownKeys = ["alipay_trade_query_response", "alipay_trade_refund_response", "alipay_trade_close_response", "error_response", "sign"]

/// Loads the fixtures before the first input, so a missing fixture stops the run instead of counting as a crash.
@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    // The vectors that succeed must succeed here too, or "only signed text succeeds" would hold vacuously.
    for vector in Fixtures.vectors.responses where vector.expect == "success" {
        let body = Array(vector.body.utf8)
        let succeeded =
            switch vector.method {
            case TradeRefund.method: isSuccess(verifier.outcome(for: TradeRefund.self, httpStatus: 200, body: body))
            case TradeClose.method: isSuccess(verifier.outcome(for: TradeClose.self, httpStatus: 200, body: body))
            default: isSuccess(verifier.outcome(for: TradeQuery.self, httpStatus: 200, body: body))
            }
        Property.require(succeeded, "vector \(vector.name) does not verify")
    }
    Property.require(!signedNodes.isEmpty, "no signed response in vectors.json")
    return 0
}

func isSuccess<Response>(_ outcome: GatewayOutcome<Response>) -> Bool {
    if case .success = outcome { return true }
    return false
}

/// Runs libFuzzer with ``fuzz(_:_:)`` as the target.
@main
enum FuzzResponseMain {
    static func main() { FuzzDriver.run(fuzz) }
}

/// One libFuzzer input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let body = FuzzDriver.bytes(data, size)
    guard let text = String(validating: body, as: UTF8.self) else {
        guard case .retryable = verifier.outcome(for: TradeQuery.self, httpStatus: 200, body: body) else {
            Property.violated("a body that is not UTF-8 is not retryable")
        }
        return 0
    }
    checkExtraction(text)
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

/// The extractor against its own promises and, where the body is exactly one valid JSON object, against StrictJSON.
func checkExtraction(_ text: String) {
    for key in wellKnownKeys {
        if let node = ResponseExtractor.rawNode(named: key, in: text) { checkShape(node, in: text, key: key) }
    }
    guard let members = StrictJSON.topLevelMembers(text) else { return }
    let utf8 = text.utf8
    // Keys as spelled (escapes kept), grouped as the extractor compares them: String equality.
    for (key, spellings) in Dictionary(grouping: members, by: \.key) {
        let node = ResponseExtractor.rawNode(named: key, in: text)
        guard spellings.count == 1 else {
            Property.require(node == nil, "'\(key)' appears \(spellings.count) times in a valid JSON object, yet a node was returned")
            continue
        }
        guard let node else { Property.violated("the member '\(key)' of a valid JSON object was not found") }
        let value = spellings[0].value
        let start = utf8.index(utf8.startIndex, offsetBy: value.lowerBound)
        let end = utf8.index(utf8.startIndex, offsetBy: value.upperBound)
        Property.require(node.startIndex == start && node.endIndex == end, "the node of '\(key)' is not exactly its value")
    }
}

/// A node is a whole value: not empty, no surrounding JSON whitespace, right after the ':' of its member.
func checkShape(_ node: Substring, in text: String, key: String) {
    let jsonWhitespace: [UInt8] = [0x20, 0x09, 0x0A, 0x0D]
    Property.require(!node.isEmpty, "an empty node for '\(key)'")
    Property.require(
        !jsonWhitespace.contains(node.utf8.first!) && !jsonWhitespace.contains(node.utf8.last!), "the node of '\(key)' has surrounding whitespace")
    let before = text.utf8[..<node.startIndex].reversed().first { !jsonWhitespace.contains($0) }
    Property.require(before == UInt8(ascii: ":"), "the node of '\(key)' does not follow a ':'")
}

/// The verifier's outcome: only signed text yields a success or a business answer.
func checkOutcome<R: AlipayRequest>(
    _ request: R.Type, body: [UInt8], text: String, sameFields: (R.Response, [String: Any]) -> Bool
) {
    let responseKey = ResponseVerifier.responseKey(method: R.method)
    switch verifier.outcome(for: request, httpStatus: 200, body: body) {
    case .success(let response):
        guard let node = ResponseExtractor.rawNode(named: responseKey, in: text) else {
            Property.violated("a success without exactly one \(responseKey)")
        }
        requireSigned(node, what: "a success")
        guard let fields = (try? JSONSerialization.jsonObject(with: Data(node.utf8))) as? [String: Any] else {
            Property.violated("a success whose node is not a JSON object")
        }
        Property.require(fields["code"] as? String == "10000", "a success whose code is not 10000")
        Property.require(sameFields(response, fields), "a success whose fields differ from the signed node")
    case .tradeNotExist, .rejected:
        // The verifier reads error_response only when the method's node is absent.
        guard let node = ResponseExtractor.rawNode(named: responseKey, in: text) ?? ResponseExtractor.rawNode(named: "error_response", in: text) else {
            Property.violated("a business answer without a node")
        }
        requireSigned(node, what: "a business answer")
    case .retryable, .configurationError:
        break
    }
}

func requireSigned(_ node: Substring, what: String) {
    Property.require(
        signedNodes.contains(String(node)) || signedNodes.contains(node.replacingOccurrences(of: "\\/", with: "/")),
        "\(what) for a node Alipay's key never signed")
}
