import AlipayKit
import Foundation
import FuzzSupport

// Input: a notification body as POSTed to notify_url, or, when it starts with '?', a return_url query.
//
// Properties:
// - FormCodec: a decoded form has distinct non-empty keys and a known charset; every pair re-encoded byte by byte as
//   %XX decodes to exactly the same pairs (decoded once, never twice), in any order with the same sign string; a
//   UTF-8 form survives decode → encode → decode and encodes to the same text again.
// - TradeNotification: typed fields read from any decoded form equal the form's values; amounts parse the same.
// - NotificationVerifier: a verified body decodes to the same fields, and its sign string is one Alipay's fixture key
//   signed in vectors.json (the fuzzer cannot forge RSA, so anything else verifying is a bypass); re-encoded and
//   reordered it verifies to the same fields; a refusal is "bad_form" exactly when FormCodec refuses the body.

/// The receiver's verifier (RSA2), and a legacy account's (RSA) for bodies that declare `sign_type=RSA`.
let rsa2Verifier = NotificationVerifier(alipayPublicKey: Fixtures.alipayPublicKey, signType: .rsa2, appId: Fixtures.appId)
let rsaVerifier = NotificationVerifier(alipayPublicKey: Fixtures.alipayPublicKey, signType: .rsa, appId: Fixtures.appId)

/// The sign strings of the signed notifications in vectors.json: the only ones a verifier may accept.
let signedStrings: Set<[UInt8]> = Set(
    Fixtures.vectors.valid.map { vector in
        do {
            _ = try verifier(declaring: vector.sign_type).verify(body: vector.body)
            return try FormCodec.decode(vector.body).notificationSignBytes
        } catch {
            Property.violated("vector \(vector.name) does not verify: \(error)")
        }
    })

func verifier(declaring signType: String?) -> NotificationVerifier {
    signType?.uppercased() == SignType.rsa.rawValue ? rsaVerifier : rsa2Verifier
}

/// Loads the fixtures before the first input, so a missing fixture stops the run instead of counting as a crash.
@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    _ = signedStrings.count
    return 0
}

/// Runs libFuzzer with ``fuzz(_:_:)`` as the target.
@main
enum FuzzNotificationMain {
    static func main() { FuzzDriver.run(fuzz) }
}

/// One libFuzzer input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzDriver.bytes(data, size)
    if input.first == UInt8(ascii: "?") {
        checkReturn(String(decoding: input, as: UTF8.self))
        return 0
    }
    let form = checkForm(input)
    if let form { checkFields(form) }
    checkVerification(input, form: form)
    return 0
}

/// FormCodec's own promises, and the round trips; nil when the body is refused.
func checkForm(_ body: [UInt8]) -> FormParameters? {
    let form: FormParameters
    do {
        form = try FormCodec.decode(body)
    } catch {
        Property.require(!error.message.isEmpty, "a FormError without a message")
        return nil
    }
    Property.require(form.pairs.count == form.dictionary.count, "\(form.pairs.count) pairs but \(form.dictionary.count) distinct keys")
    Property.require(form.pairs.allSatisfy { !$0.key.isEmpty }, "a pair with an empty key")
    Property.require(["utf-8", "gbk", "gb18030"].contains(form.charset), "unexpected charset '\(form.charset)'")

    guard let escaped = try? FormCodec.decode(encodeEveryByte(form.pairs, hex: upperHex)) else {
        Property.violated("the form re-encoded byte by byte does not decode")
    }
    Property.require(escaped.pairs == form.pairs, "re-encoding byte by byte changed the pairs: decoded twice?")
    Property.require(escaped.dictionary == form.dictionary, "re-encoding byte by byte changed the parameters")
    Property.require(escaped.charset == form.charset, "re-encoding byte by byte changed the charset")

    guard let reversed = try? FormCodec.decode(encodeEveryByte(form.pairs.reversed(), hex: lowerHex)) else {
        Property.violated("the form in reverse order does not decode")
    }
    Property.require(reversed.notificationSignBytes == form.notificationSignBytes, "the sign string depends on the order of the pairs")
    Property.require(reversed.dictionary == form.dictionary, "the parameters depend on the order of the pairs")

    if form.charset == "utf-8" {
        let text = FormCodec.encode(form.dictionary)
        guard let decoded = try? FormCodec.decode(text) else { Property.violated("FormCodec.encode wrote a body FormCodec refuses") }
        Property.require(decoded.dictionary == form.dictionary, "decode → encode → decode changed the parameters")
        Property.require(FormCodec.encode(decoded.dictionary) == text, "encode → decode → encode is not stable")
    }
    return form
}

/// TradeNotification over the unverified form: the fuzzer cannot get past the signature, so its parsing is fuzzed here.
func checkFields(_ form: FormParameters) {
    let notification: TradeNotification
    do {
        notification = try TradeNotification(parameters: form.dictionary)
    } catch {
        Property.require(!error.description.isEmpty, "a NotificationError without a message")
        return
    }
    Property.require(notification.parameters == form.dictionary, "parameters differ from the form")
    let required: [(String, String)] = [
        ("notify_id", notification.notifyId), ("notify_time", notification.notifyTime), ("notify_type", notification.notifyType),
        ("app_id", notification.appId), ("trade_no", notification.tradeNo), ("out_trade_no", notification.outTradeNo),
        ("trade_status", notification.tradeStatus.rawValue),
    ]
    for (name, value) in required { Property.require(form[name] == value, "\(name) differs from the form") }
    Property.require(notification.totalAmount == (try? Amount(form["total_amount"] ?? "")), "total_amount differs from the form")
    let optionalAmounts: [(String, Amount?)] = [
        ("receipt_amount", notification.receiptAmount), ("invoice_amount", notification.invoiceAmount),
        ("buyer_pay_amount", notification.buyerPayAmount), ("point_amount", notification.pointAmount), ("refund_fee", notification.refundFee),
    ]
    for (name, amount) in optionalAmounts {
        let text = form[name].flatMap { $0.isEmpty ? nil : $0 }
        Property.require(amount == text.flatMap { try? Amount($0) }, "\(name) differs from the form")
        Property.require(amount == nil || text != nil, "\(name) read from nothing")
    }
    for bill in notification.fundBillList {
        Property.require(bill.amount.fen >= 0 && (bill.realAmount?.fen ?? 0) >= 0, "a negative fund bill amount")
    }
    if form["fund_bill_list"]?.isEmpty ?? true { Property.require(notification.fundBillList.isEmpty, "fund bills from nothing") }
}

/// The verifier: only a signed sign string verifies, to the same fields, however the body spells them.
func checkVerification(_ body: [UInt8], form: FormParameters?) {
    let verifier = verifier(declaring: form?["sign_type"])
    let notification: TradeNotification
    do {
        notification = try verifier.verify(body: body)
    } catch {
        Property.require((form == nil) == (error.reason == "bad_form"), "refused as '\(error.reason)' but FormCodec \(form == nil ? "refuses" : "accepts") it")
        return
    }
    guard let form else { Property.violated("verified a body FormCodec refuses") }
    Property.require(signedStrings.contains(form.notificationSignBytes), "verified a sign string Alipay's key never signed")
    Property.require(notification.parameters == form.dictionary, "the verified fields differ from the decoded form")
    Property.require(notification.appId == Fixtures.appId, "verified a foreign app_id")
    guard let again = try? verifier.verify(body: encodeEveryByte(form.pairs.reversed(), hex: lowerHex)) else {
        Property.violated("the same pairs, re-encoded and reordered, no longer verify")
    }
    Property.require(again.parameters == notification.parameters, "the same pairs, re-encoded and reordered, verify to other fields")
}

/// verifyReturn follows the same rules as a notification.
func checkReturn(_ query: String) {
    let form = try? FormCodec.decode(Array(query.utf8.dropFirst()))
    let verifier = verifier(declaring: form?["sign_type"])
    let parameters: ReturnParameters
    do {
        parameters = try verifier.verifyReturn(query: query)
    } catch {
        Property.require((form == nil) == (error.reason == "bad_form"), "return query refused as '\(error.reason)'")
        return
    }
    guard let form else { Property.violated("verified a return query FormCodec refuses") }
    Property.require(signedStrings.contains(form.notificationSignBytes), "verified a return query Alipay's key never signed")
    Property.require(parameters.parameters == form.dictionary, "the return parameters differ from the decoded query")
    Property.require(parameters.outTradeNo == form["out_trade_no"], "out_trade_no differs from the query")
    Property.require(parameters.totalAmount == (try? Amount(form["total_amount"] ?? "")), "total_amount differs from the query")
}

let upperHex = Array("0123456789ABCDEF".utf8)
let lowerHex = Array("0123456789abcdef".utf8)

/// `key=value&…` with every byte written as %XX: a spelling FormCodec must read back to the same bytes.
func encodeEveryByte(_ pairs: some Sequence<FormPair>, hex: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    for pair in pairs {
        if !out.isEmpty { out.append(UInt8(ascii: "&")) }
        for byte in pair.key { out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]] }
        out.append(UInt8(ascii: "="))
        for byte in pair.value { out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]] }
    }
    return out
}
