import AlipayKit
import PropertyBased
import Testing

/// Property 1: whatever the parameters hold, what is signed verifies and reads back exactly.
@Suite("Sign then verify round-trips arbitrary parameters")
struct SignVerifyProperties {
    /// Arbitrary keys (never empty; not `charset`, which would have to name a real charset, nor `sign`) and values.
    static let arbitraryMaps = zip(
        TextGen.utf8Text(1...3).filter { $0 != "charset" && $0 != "sign" },
        TextGen.utf8Text(0...4)
    ).dictionary(ofAtMost: 0...8)

    @Test("a notification signed as Alipay signs it verifies, and every parameter reads back byte for byte")
    func notificationRoundTrip() async {
        await propertyCheck(count: 200, input: NotificationGen.any) { notification in
            let parameters = notification.parameters
            let body = try NotificationSigner.signedBody(parameters, key: PropertyFixtures.alipayKey, signType: notification.signType)
            let verified = try PropertyFixtures.verifier(notification.signType).verify(body: body)

            var expected = parameters
            expected["sign_type"] = notification.signType.rawValue
            var received = verified.parameters
            #expect(received.removeValue(forKey: "sign")?.isEmpty == false)
            #expect(Self.bytes(received) == Self.bytes(expected))

            #expect(verified.outTradeNo == parameters["out_trade_no"])
            #expect(verified.tradeStatus.rawValue == parameters["trade_status"])
            #expect(verified.totalAmount.description == parameters["total_amount"])
            #expect(verified.refundFee?.description == parameters["refund_fee"])
            #expect(verified.subject == parameters["subject"].flatMap { $0.isEmpty ? nil : $0 })
            #expect(verified.body == parameters["body"].flatMap { $0.isEmpty ? nil : $0 })

            // Invariant 2: the same body offered to a service configured for the other algorithm is refused.
            let other: SignType = notification.signType == .rsa2 ? .rsa : .rsa2
            #expect(throws: NotificationError.signTypeMismatch(expected: other.rawValue, got: notification.signType.rawValue)) {
                try PropertyFixtures.verifier(other).verify(body: body)
            }
        }
    }

    @Test("any parameter map: its sign string verifies, the form encoding round-trips, and so does the signature through it")
    func arbitraryMapRoundTrip() async {
        let key = PropertyFixtures.alipayKey
        let publicKey = key.publicKey
        await propertyCheck(count: 200, input: zip(Self.arbitraryMaps, Gen<SignType>.case)) { map, signType in
            let signString = SignString.forNotification(map)
            #expect(signString == Self.referenceSignString(map))
            let sign = try key.sign(signString, type: signType)
            #expect(publicKey.isValidSignature(sign, for: signString, type: signType))

            let decoded = try FormCodec.decode(FormCodec.encode(map))
            #expect(decoded.dictionary == map)
            #expect(Self.bytes(decoded.dictionary) == Self.bytes(map))

            // What the receiver does: decode the body once, rebuild the sign string from it, verify.
            var signed = map
            signed["sign"] = sign
            let received = try FormCodec.decode(FormCodec.encode(signed))
            #expect(received["sign"] == sign)
            #expect(publicKey.isValidSignature(sign, forBytes: received.notificationSignBytes, type: signType))
            #expect(SignString.forNotification(received.dictionary) == signString)
        }
    }

    /// docs/alipay-protocol.md's rule written out again: drop `sign`, `sign_type`, `alipay_cert_sn` and empty values, sort keys by
    /// their bytes, join `key=value` with `&`, nothing encoded.
    static func referenceSignString(_ parameters: [String: String]) -> String {
        parameters
            .filter { !["sign", "sign_type", "alipay_cert_sn"].contains($0.key) && !$0.value.isEmpty }
            .sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
            .map { "\($0.key)=\($0.value)" }
            .joined(separator: "&")
    }

    /// The parameters as UTF-8 bytes: String equality is canonical equivalence, this is byte for byte.
    static func bytes(_ parameters: [String: String]) -> [[UInt8]: [UInt8]] {
        Dictionary(uniqueKeysWithValues: parameters.map { (Array($0.key.utf8), Array($0.value.utf8)) })
    }
}
