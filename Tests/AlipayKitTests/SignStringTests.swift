import Testing

@testable import AlipayKit

@Suite("The sign string: one builder, Alipay's rules")
struct SignStringTests {
    @Test("requests: drop sign, keep sign_type, skip empty values, sort by byte order, raw values")
    func request() {
        let parameters = [
            "sign": "SIG", "sign_type": "RSA2", "b": "2", "a": "1", "empty": "", "Z": "upper first", "a_b": "x y&z=%",
            "biz_content": "{\"subject\":\"中文\"}",
        ]
        #expect(SignString.forRequest(parameters) == "Z=upper first&a=1&a_b=x y&z=%&b=2&biz_content={\"subject\":\"中文\"}&sign_type=RSA2")
    }

    @Test("notifications: drop sign, sign_type and alipay_cert_sn, skip empty values")
    func notification() {
        let parameters = ["sign": "SIG", "sign_type": "RSA2", "alipay_cert_sn": "abc", "trade_status": "TRADE_SUCCESS", "body": "", "app_id": "1"]
        #expect(SignString.forNotification(parameters) == "app_id=1&trade_status=TRADE_SUCCESS")
    }

    @Test("keys sort by UTF-8 bytes, not by Unicode collation or String comparison")
    func byteOrder() {
        // "é" (C3 A9) sorts after "z" (7A); "e\u{301}" (65 CC 81) sorts before "f"; "_" (5F) before "a" (61) and after "Z" (5A).
        let parameters = ["z": "1", "é": "2", "e\u{301}x": "3", "f": "4", "_": "5", "Z": "6"]
        #expect(SignString.forRequest(parameters) == "Z=6&_=5&e\u{301}x=3&f=4&z=1&é=2")
    }

    @Test("an empty parameter set signs the empty string")
    func empty() {
        #expect(SignString.forRequest([:]) == "")
        #expect(SignString.forNotification(["sign": "x"]) == "")
    }
}
