import Foundation
import Testing

@testable import AlipayKit

@Suite("Notifications signed by Alipay's official Python SDK (Fixtures/vectors.json)")
struct NotificationVectorTests {
    static func verifier(_ signType: String) throws -> NotificationVerifier {
        NotificationVerifier(alipayPublicKey: try Fixture.alipayPublicKey(), signType: SignType(rawValue: signType)!, appId: Fixture.appId)
    }

    @Test("there are enough vectors")
    func counts() {
        #expect(Vectors.shared.valid.count >= 30)
        #expect(Vectors.shared.forged.count >= 20)
    }

    @Test("valid notifications verify and decode", arguments: Vectors.shared.valid)
    func valid(vector: Vectors.Valid) throws {
        let verifier = try Self.verifier(vector.sign_type)
        let notification = try verifier.verify(body: vector.body)
        let expect = vector.expect
        #expect(notification.outTradeNo == expect.out_trade_no)
        #expect(notification.tradeStatus.rawValue == expect.trade_status)
        #expect(notification.totalAmount == (try Amount(expect.total_amount)))
        #expect(notification.subject == expect.subject)
        #expect(notification.body == expect.body)
        #expect(notification.passbackParams == expect.passback_params)
        #expect(notification.fundBillList.count == expect.fund_bill_count)
        #expect(notification.refundFee == (try expect.refund_fee.map { try Amount($0) }))
        #expect(notification.appId == Fixture.appId)
        #expect(notification.notifyType == "trade_status_sync")

        let inspection = verifier.inspect(body: Array(vector.body.utf8), appPublicKey: try Fixture.appPublicKey())
        #expect(inspection.isValid)
        #expect(inspection.verdict == "valid")
        #expect(inspection.diagnosis.isEmpty)
        #expect(inspection.signString == vector.sign_string, "the string verified is the one the SDK signed")
        #expect(inspection.charset == expect.charset)
    }

    @Test("forged notifications are refused for the right reason", arguments: Vectors.shared.forged)
    func forged(vector: Vectors.Forged) throws {
        let verifier = try Self.verifier(vector.verifier_sign_type)
        #expect {
            _ = try verifier.verify(body: vector.body)
        } throws: { error in
            (error as? NotificationError)?.reason == vector.reason
        }
        let inspection = verifier.inspect(body: Array(vector.body.utf8), appPublicKey: try Fixture.appPublicKey())
        #expect(!inspection.isValid)
        #expect(inspection.error?.reason == vector.reason)
        let codes = inspection.diagnosis.map(\.code.rawValue)
        for expected in vector.diagnosis {
            #expect(codes.contains(expected), "\(vector.name): expected \(expected) in \(codes)")
        }
        #expect(!inspection.diagnosis.isEmpty, "\(vector.name): an invalid notification always gets a diagnosis")
    }

    /// An authentic notification this version cannot read is kept (returned as unsupported), never refused; a forged
    /// one is refused exactly as `verify` refuses it.
    @Test("verifyKeepingUnsupported: authentic but unreadable vectors are kept with their problem; forged ones still throw", arguments: Vectors.shared.forged)
    func keepingUnsupported(vector: Vectors.Forged) throws {
        let verifier = try Self.verifier(vector.verifier_sign_type)
        if ["bad_field", "missing_field"].contains(vector.reason) {
            // Signed by the real key: authentic. What `verify` refuses for its fields is kept.
            guard case .unsupported(let parameters, let problem) = try verifier.verifyKeepingUnsupported(body: vector.body) else {
                Issue.record("\(vector.name): an authentic notification was not kept as unsupported")
                return
            }
            #expect(problem.reason == vector.reason, "\(vector.name): \(problem)")
            #expect(parameters["notify_id"]?.isEmpty == false)
        } else {
            #expect {
                _ = try verifier.verifyKeepingUnsupported(body: vector.body)
            } throws: { error in
                (error as? NotificationError)?.reason == vector.reason
            }
        }
    }

    @Test("verifyKeepingUnsupported: every valid vector reads as a trade notification")
    func keepingUnsupportedValid() throws {
        for vector in Vectors.shared.valid {
            let verifier = try Self.verifier(vector.sign_type)
            guard case .trade(let notification) = try verifier.verifyKeepingUnsupported(body: vector.body) else {
                Issue.record("\(vector.name) is valid but came back unsupported")
                continue
            }
            #expect(notification.outTradeNo == vector.expect.out_trade_no)
        }
    }

    @Test("a notification for the RSA2 verifier does not pass an RSA one, and the reverse")
    func algorithmsDoNotMix() throws {
        let rsa2 = try #require(Vectors.shared.valid.first { $0.sign_type == "RSA2" })
        let rsa = try #require(Vectors.shared.valid.first { $0.sign_type == "RSA" })
        #expect(throws: NotificationError.signTypeMismatch(expected: "RSA", got: "RSA2")) { try Self.verifier("RSA").verify(body: rsa2.body) }
        #expect(throws: NotificationError.signTypeMismatch(expected: "RSA2", got: "RSA")) { try Self.verifier("RSA2").verify(body: rsa.body) }
    }

    @Test("GBK vectors are verified over GBK bytes")
    func gbkSignBytes() throws {
        let vector = try #require(Vectors.shared.valid.first { $0.name == "gbk_chinese" })
        let inspection = try Self.verifier("RSA2").inspect(body: Array(vector.body.utf8), appPublicKey: nil)
        #expect(inspection.isValid)
        #expect(inspection.signStringBytes != Array(inspection.signString.utf8), "GBK bytes differ from the UTF-8 rendering")
        #expect(inspection.notification?.subject == "测试商品")
    }
}
