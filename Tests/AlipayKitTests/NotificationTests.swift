import Foundation
import Testing

@testable import AlipayKit

@Suite("NotificationSigner, NotificationVerifier, return_url and inspect")
struct NotificationTests {
    static func parameters(_ overrides: [String: String] = [:]) -> [String: String] {
        var parameters = [
            "notify_id": "n1", "notify_time": "2024-01-01 12:00:01", "notify_type": "trade_status_sync", "app_id": Fixture.appId,
            "charset": "utf-8", "version": "1.0", "trade_no": "T1", "out_trade_no": "O1", "trade_status": "TRADE_SUCCESS",
            "total_amount": "88.88", "subject": "C++ & 中文 = 100%", "seller_id": "2088",
            "fund_bill_list": "[{\"amount\":\"80.00\",\"fundChannel\":\"ALIPAYACCOUNT\"},{\"amount\":\"8.88\",\"fundChannel\":\"COUPON\",\"realAmount\":\"0.00\"}]",
        ]
        parameters.merge(overrides) { $1 }
        return parameters
    }

    static func verifier(_ type: SignType = .rsa2) throws -> NotificationVerifier {
        NotificationVerifier(alipayPublicKey: try Fixture.alipayPublicKey(), signType: type, appId: Fixture.appId)
    }

    @Test("signer and verifier round trip, with '+' for spaces and every typed field")
    func roundTrip() throws {
        let body = try NotificationSigner.signedBody(Self.parameters(), key: Fixture.alipayPrivateKey())
        #expect(body.contains("subject=C%2B%2B+%26+%E4%B8%AD%E6%96%87+%3D+100%25"))
        let notification = try Self.verifier().verify(body: body)
        #expect(notification.subject == "C++ & 中文 = 100%")
        #expect(notification.totalAmount == Amount(fen: 8888))
        #expect(notification.tradeStatus == .tradeSuccess)
        #expect(notification.signType == "RSA2")
        #expect(notification.fundBillList == [
            FundBill(fundChannel: "ALIPAYACCOUNT", amount: Amount(fen: 8000)),
            FundBill(fundChannel: "COUPON", amount: Amount(fen: 888), realAmount: Amount(fen: 0)),
        ])
        #expect(notification.parameters["sign_type"] == "RSA2")
    }

    @Test("RSA (SHA1) notifications verify with an RSA verifier")
    func rsa1() throws {
        let body = try NotificationSigner.signedBody(Self.parameters(), key: Fixture.alipayPrivateKey(), signType: .rsa)
        #expect(try Self.verifier(.rsa).verify(body: body).outTradeNo == "O1")
        #expect(throws: NotificationError.signTypeMismatch(expected: "RSA2", got: "RSA")) { try Self.verifier().verify(body: body) }
    }

    @Test("GBK bodies are signed and verified over GBK bytes")
    func gbk() throws {
        let body = try NotificationSigner.signedBody(Self.parameters(["charset": "GBK", "subject": "测试"]), key: Fixture.alipayPrivateKey())
        #expect(body.contains("subject=%B2%E2%CA%D4"))
        #expect(try Self.verifier().verify(body: body).subject == "测试")
        #expect(throws: FormError.self) {
            try NotificationSigner.signedBody(Self.parameters(["charset": "GBK", "subject": "🎉"]), key: Fixture.alipayPrivateKey())
        }
    }

    @Test("required amounts and fields are checked after the signature", arguments: [
        ("total_amount", "1e2", "bad_field"), ("total_amount", "-1", "bad_field"), ("total_amount", "88.888", "bad_field"),
        ("total_amount", "", "missing_field"), ("receipt_amount", "1.2.3", "bad_field"), ("refund_fee", "abc", "bad_field"),
        ("out_trade_no", "", "missing_field"), ("trade_status", "PAID", "bad_field"), ("fund_bill_list", "not json", "bad_field"),
        ("fund_bill_list", "[{\"amount\":\"1e2\",\"fundChannel\":\"X\"}]", "bad_field"),
    ])
    func fieldChecks(field: String, value: String, reason: String) throws {
        let body = try NotificationSigner.signedBody(Self.parameters([field: value]), key: Fixture.alipayPrivateKey())
        #expect {
            _ = try Self.verifier().verify(body: body)
        } throws: { error in
            (error as? NotificationError)?.reason == reason
        }
    }

    @Test("empty optional amounts read as absent")
    func emptyOptionals() throws {
        let body = try NotificationSigner.signedBody(
            Self.parameters(["receipt_amount": "", "refund_fee": "", "body": "", "fund_bill_list": ""]), key: Fixture.alipayPrivateKey())
        let notification = try Self.verifier().verify(body: body)
        #expect(notification.receiptAmount == nil)
        #expect(notification.refundFee == nil)
        #expect(notification.body == nil)
        #expect(notification.fundBillList.isEmpty)
    }

    @Test("a missing sign_type is verified with the configured type; a foreign app_id is refused")
    func signTypeAndAppId() throws {
        var parameters = Self.parameters()
        parameters["sign_type"] = ""
        let body = try NotificationSigner.signedBody(parameters, key: Fixture.alipayPrivateKey())
        #expect(try Self.verifier().verify(body: body).outTradeNo == "O1")
        let foreign = try NotificationSigner.signedBody(Self.parameters(["app_id": "999"]), key: Fixture.alipayPrivateKey())
        #expect(throws: NotificationError.foreignAppId("999")) { try Self.verifier().verify(body: foreign) }
    }

    @Test("error reasons are the stable metric labels")
    func reasons() {
        let all: [(NotificationError, String)] = [
            (.malformedBody("x"), "bad_form"), (.missingSign, "missing_sign"), (.invalidSignEncoding, "bad_sign_encoding"),
            (.signTypeMismatch(expected: "RSA2", got: "RSA"), "sign_type"), (.foreignAppId("1"), "foreign_app_id"),
            (.invalidSignature, "bad_signature"), (.missingField("a"), "missing_field"), (.invalidField("a", "b"), "bad_field"),
        ]
        for (error, reason) in all {
            #expect(error.reason == reason)
            #expect(!error.description.isEmpty)
        }
    }

    @Test("return_url queries verify like notifications and read their fields")
    func returnURL() throws {
        let parameters = [
            "charset": "utf-8", "out_trade_no": "O1", "method": "alipay.trade.page.pay.return", "total_amount": "88.88",
            "trade_no": "T1", "auth_app_id": Fixture.appId, "version": "1.0", "app_id": Fixture.appId, "seller_id": "2088",
            "timestamp": "2024-01-01 12:00:05",
        ]
        let query = try NotificationSigner.signedBody(parameters, key: Fixture.alipayPrivateKey())
        let result = try Self.verifier().verifyReturn(query: "?" + query)
        #expect(result.outTradeNo == "O1")
        #expect(result.tradeNo == "T1")
        #expect(result.totalAmount == Amount(fen: 8888))
        #expect(result.sellerId == "2088")
        #expect(result.timestamp == "2024-01-01 12:00:05")
        #expect(throws: NotificationError.invalidSignature) {
            try Self.verifier().verifyReturn(query: query.replacingOccurrences(of: "total_amount=88.88", with: "total_amount=0.01"))
        }
    }

    @Test("inspect returns the exact string verified and the verdict")
    func inspectValid() throws {
        let body = try NotificationSigner.signedBody(Self.parameters(), key: Fixture.alipayPrivateKey())
        let inspection = try Self.verifier().inspect(body: Array(body.utf8), appPublicKey: Fixture.appPublicKey())
        #expect(inspection.isValid)
        #expect(inspection.signString == SignString.forNotification(Self.parameters()))
        #expect(inspection.signString.hasPrefix("app_id=\(Fixture.appId)&charset=utf-8&fund_bill_list=[{"))
        #expect(inspection.notification?.outTradeNo == "O1")
    }

    @Test("inspect: the app's own key configured as Alipay's")
    func inspectWrongKeyConfigured() throws {
        // The operator configured the app public key as the Alipay public key: Alipay's real signature fails.
        let body = try NotificationSigner.signedBody(Self.parameters(), key: Fixture.alipayPrivateKey())
        let misconfigured = NotificationVerifier(alipayPublicKey: try Fixture.appPublicKey(), appId: Fixture.appId)
        let inspection = misconfigured.inspect(body: Array(body.utf8), appPublicKey: try Fixture.appPublicKey())
        #expect(!inspection.isValid)
        #expect(inspection.error == .invalidSignature)
        #expect(inspection.diagnosis.map(\.code) == [.appPublicKey])
        #expect(inspection.diagnosis[0].message.contains("is the app's own public key"))

        // A notification signed with the app private key (a home-made test tool) verifies with the app public key.
        let signedByApp = try NotificationSigner.signedBody(Self.parameters(), key: Fixture.appPrivateKey())
        let diagnosis = try Self.verifier().inspect(body: Array(signedByApp.utf8), appPublicKey: Fixture.appPublicKey()).diagnosis
        #expect(diagnosis.map(\.code) == [.appPublicKey])
        #expect(diagnosis[0].message.contains("app public key"))
    }

    @Test("inspect: a malformed body is diagnosed, and a pasted already-decoded body is recognised")
    func inspectMalformed() throws {
        let inspection = try Self.verifier().inspect(body: Array("a=1&a=2".utf8), appPublicKey: nil)
        #expect(inspection.error?.reason == "bad_form")
        #expect(inspection.diagnosis.map(\.code) == [.malformedBody])

        // Decoded once already (e.g. copied from a log): '100%' is now a bare '%' and no longer parses.
        let parameters = Self.parameters(["subject": "100% off"])
        let sign = try Fixture.alipayPrivateKey().sign(SignString.forNotification(parameters.merging(["sign_type": "RSA2"]) { $1 }), type: .rsa2)
        let pasted = (parameters.merging(["sign_type": "RSA2", "sign": sign]) { $1 }).map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        let diagnosis = try Self.verifier().inspect(body: Array(pasted.utf8), appPublicKey: nil).diagnosis.map(\.code)
        #expect(diagnosis.contains(.malformedBody))
        #expect(diagnosis.contains(.decodedTwice))
    }
}
