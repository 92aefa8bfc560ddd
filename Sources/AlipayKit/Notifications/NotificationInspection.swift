import Foundation

/// One finding of ``NotificationVerifier/inspect(body:appPublicKey:)``: a machine code and a sentence for people.
public struct NotificationDiagnosis: Sendable, Equatable, Codable {
    /// What was found.
    public enum Code: String, Sendable, Codable, CaseIterable {
        /// The body is not a valid form.
        case malformedBody = "malformed_body"
        /// `sign` is missing or empty.
        case missingSign = "missing_sign"
        /// `sign` is not base64.
        case badSignEncoding = "bad_sign_encoding"
        /// The body's `sign_type` is not the configured one.
        case signTypeMismatch = "sign_type_mismatch"
        /// The signature verifies with the other algorithm (RSA instead of RSA2 or the reverse).
        case otherSignType = "other_sign_type"
        /// `app_id` is not ours.
        case foreignAppId = "foreign_app_id"
        /// The signature verifies with the app's own public key: the wrong key is configured.
        case appPublicKey = "app_public_key"
        /// Certificate mode: the notification names an Alipay certificate other than the configured one (a rotation).
        case otherAlipayCertificate = "other_alipay_certificate"
        /// It verifies once spaces are turned back into '+': a literal '+' reached the form decoder.
        case plusBecameSpace = "plus_became_space"
        /// It verifies over the body without percent-decoding: it had already been decoded once.
        case decodedTwice = "decoded_twice"
        /// It verifies when values are decoded a second time: the body was percent-encoded twice.
        case encodedTwice = "encoded_twice"
        /// It verifies when empty values are kept in the sign string: the signer does not skip them.
        case emptyValuesSigned = "empty_values_signed"
        /// It verifies when `sign_type` is kept in the sign string: signed with request rules.
        case signTypeSigned = "sign_type_signed"
        /// A required field is missing or unreadable although the signature is fine.
        case badField = "bad_field"
        /// The signature does not verify and no known mistake explains it.
        case noKnownCause = "no_known_cause"
    }

    /// The machine code.
    public let code: Code
    /// A sentence for the operator.
    public let message: String

    /// Creates a finding.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }
}

/// What `notifyctl verify` prints: the exact string verified, the verdict and, when invalid, why.
public struct NotificationInspection: Sendable {
    /// The sign string that was verified, as text (converted from the body's charset).
    public let signString: String
    /// The sign string's bytes exactly as verified (GBK bytes for a GBK body).
    public let signStringBytes: [UInt8]
    /// The body's charset.
    public let charset: String
    /// The body's `sign_type`, if any.
    public let signType: String?
    /// Whether the notification verified and its fields are readable.
    public let isValid: Bool
    /// Why it was refused, as the receiver would refuse it.
    public let error: NotificationError?
    /// The typed notification when valid.
    public let notification: TradeNotification?
    /// Findings, empty when valid.
    public let diagnosis: [NotificationDiagnosis]

    /// "valid" or "invalid".
    public var verdict: String { isValid ? "valid" : "invalid" }
}

extension NotificationVerifier {
    /// For `notifyctl verify`: the exact string verified, the verdict, and a diagnosis when invalid
    /// (verifies with the app's own public key ⇒ wrong key configured; '+' → space / double decoding; sign_type mismatch; foreign app_id)
    public func inspect(body: [UInt8], appPublicKey: RSAPublicKey?) -> NotificationInspection {
        let form: FormParameters
        do {
            form = try Self.decodeForm(body)
        } catch {
            var diagnosis = [NotificationDiagnosis(code: .malformedBody, message: "The body is not a valid form: \(error).")]
            // A body pasted after something decoded it often no longer parses (a bare '%'): try it as it is.
            let raw = Self.lenientPairs(body, decode: false, plusAsSpace: false)
            if verifiesWithOwnSign(raw) { diagnosis.append(Self.decodedTwiceFinding) }
            return NotificationInspection(
                signString: "", signStringBytes: [], charset: "utf-8", signType: nil, isValid: false, error: error,
                notification: nil, diagnosis: diagnosis)
        }
        let signBytes = form.notificationSignBytes
        let signString = Charset(name: form.charset)?.decode(signBytes) ?? String(decoding: signBytes, as: UTF8.self)
        var failure: NotificationError?
        var notification: TradeNotification?
        do {
            try check(form)
            notification = try TradeNotification(parameters: form.dictionary)
        } catch {
            failure = error
        }
        let diagnosis = failure == nil ? [] : diagnose(form: form, body: body, appPublicKey: appPublicKey, failure: failure!)
        return NotificationInspection(
            signString: signString, signStringBytes: signBytes, charset: form.charset, signType: form["sign_type"],
            isValid: failure == nil, error: failure, notification: notification, diagnosis: diagnosis)
    }

    private func diagnose(form: FormParameters, body: [UInt8], appPublicKey: RSAPublicKey?, failure: NotificationError) -> [NotificationDiagnosis] {
        var found: [NotificationDiagnosis] = []
        let declaredType = form["sign_type"].flatMap { SignType(rawValue: $0.uppercased()) }
        if let declared = form["sign_type"], !declared.isEmpty, declared.uppercased() != signType.rawValue {
            found.append(.init(code: .signTypeMismatch,
                message: "The body says sign_type=\(declared) but \(signType.rawValue) is configured; a downgraded sign_type is always refused."))
        }
        if let declared = form["app_id"], declared != appId {
            found.append(.init(code: .foreignAppId,
                message: "The notification is for app_id \(declared), not the configured \(appId): it belongs to another app or the wrong app is configured."))
        }
        if case .missingField = failure {
            found.append(.init(code: .badField, message: "The signature is fine but \(failure)."))
        } else if case .invalidField = failure {
            found.append(.init(code: .badField, message: "The signature is fine but \(failure)."))
        }
        guard let sign = form["sign"], !sign.isEmpty else {
            found.append(.init(code: .missingSign, message: "The body has no sign parameter (or it is empty): it was not signed by Alipay."))
            return found
        }
        let pairs: Pairs = form.pairs.map { (key: $0.key, value: $0.value) }
        let signature = Data(base64Encoded: sign)
        if signature == nil {
            let hint = sign.contains(" ") ? " It contains spaces: a '+' of the signature was decoded as a space." : ""
            found.append(.init(code: .badSignEncoding, message: "The sign parameter is not valid base64.\(hint)"))
        }
        if let signature, matches(pairs, signature, key: alipayPublicKey, type: signType) {
            return found  // The signature is good: the findings above explain the refusal.
        }
        if let configured = alipayCertSN, let named = form["alipay_cert_sn"], !named.isEmpty, named != configured {
            found.append(.init(code: .otherAlipayCertificate,
                message: "The notification names Alipay's certificate \(named), but alipay.certFile is \(configured). Anyone can post a "
                    + "notification with any SN, so check first: if a receiver or worker logged \"Alipay rotated its certificate\" with this SN, or "
                    + "`notifyctl certs download --sn \(named) --out FILE` fetches it (it is accepted only when it chains to alipay.rootCertFile "
                    + "with Alipay's subject and issuer), make that file alipay.certFile on every host and restart the receivers; Alipay "
                    + "re-sends what was refused. Otherwise the notification is forged."))
            return found
        }
        if let appPublicKey, appPublicKey.base64DER == alipayPublicKey.base64DER {
            let message =
                certificateMode
                ? "The configured Alipay certificate (alipay.certFile) carries the app's own public key: it is the app certificate "
                    + "(appCertPublicKey_<appId>.crt, 应用公钥证书). Configure Alipay's certificate, alipayCertPublicKey_RSA2.crt (支付宝公钥证书)."
                : "The configured Alipay public key is the app's own public key. "
                    + "Configure the Alipay public key shown in the Alipay console (支付宝公钥), not the app public key (应用公钥)."
            found.append(.init(code: .appPublicKey, message: message))
        } else if let signature, let appPublicKey {
            if matches(pairs, signature, key: appPublicKey, type: signType)
                || (declaredType.map { matches(pairs, signature, key: appPublicKey, type: $0) } ?? false)
            {
                found.append(.init(code: .appPublicKey,
                    message: "The signature verifies with the app's own public key: the configured Alipay public key is the app public key. "
                        + "Configure the Alipay public key shown in the Alipay console (支付宝公钥), not the app public key (应用公钥)."))
            }
        }
        if let signature {
            let other: SignType = signType == .rsa2 ? .rsa : .rsa2
            if matches(pairs, signature, key: alipayPublicKey, type: other) {
                found.append(.init(code: .otherSignType,
                    message: "The signature verifies as \(other.rawValue), but \(signType.rawValue) is configured: set alipay.signType to match the app."))
            }
            if matches(pairs, signature, key: alipayPublicKey, type: signType, keepEmpty: true) {
                found.append(.init(code: .emptyValuesSigned,
                    message: "It verifies only when empty values are kept in the sign string: the sender does not follow Alipay's rule of skipping them."))
            }
            if matches(pairs, signature, key: alipayPublicKey, type: signType, exclusions: ["sign"]) {
                found.append(.init(code: .signTypeSigned,
                    message: "It verifies only when sign_type is kept in the sign string: it was signed with request rules, not notification rules."))
            }
        }
        // Each reading is tried with its own decoding of sign, then with sign as decoded once.
        for variant in variants(form: form, body: body) where verifiesWithOwnSign(variant.pairs, fallback: signature) {
            found.append(variant.finding)
        }
        if !found.contains(where: { [.appPublicKey, .otherSignType, .emptyValuesSigned, .signTypeSigned, .plusBecameSpace, .decodedTwice, .encodedTwice].contains($0.code) }),
            signature != nil
        {
            found.append(.init(code: .noKnownCause,
                message: "The signature does not verify with the configured Alipay public key and no known mistake explains it: "
                    + "a field was changed after signing, the body was altered in transit, or it was not sent by Alipay."))
        }
        return found
    }

    private func matches(
        _ pairs: [(key: [UInt8], value: [UInt8])], _ signature: Data, key: RSAPublicKey, type: SignType,
        keepEmpty: Bool = false, exclusions: Set<String> = SignString.notificationExclusions
    ) -> Bool {
        let bytes = SignString.bytes(pairs, excluding: exclusions, keepEmpty: keepEmpty)
        return key.isValidSignature(raw: signature, forBytes: bytes, type: type)
    }

    private typealias Pairs = [(key: [UInt8], value: [UInt8])]

    private func verifiesWithOwnSign(_ pairs: Pairs, fallback: Data? = nil) -> Bool {
        let own = pairs.first { $0.key == Array("sign".utf8) }.flatMap { Data(base64Encoded: String(decoding: $0.value, as: UTF8.self)) }
        return [own, fallback].compactMap { $0 }.contains { matches(pairs, $0, key: alipayPublicKey, type: signType) }
    }

    private static let decodedTwiceFinding = NotificationDiagnosis(code: .decodedTwice,
        message: "It verifies over the body without percent-decoding: the body had already been decoded once before it was verified. "
            + "Verify the raw request body, decoding it exactly once.")

    /// Re-encoded readings of the body that explain the usual transport mistakes.
    private func variants(form: FormParameters, body: [UInt8]) -> [(pairs: Pairs, finding: NotificationDiagnosis)] {
        var result: [(pairs: Pairs, finding: NotificationDiagnosis)] = []
        let decodedValues = form.pairs.map(\.value)
        if body.contains(UInt8(ascii: "+")) {
            let plusKept = Self.lenientPairs(body, decode: true, plusAsSpace: false)
            result.append((plusKept, .init(code: .plusBecameSpace,
                message: "It verifies when '+' is read as a plus: the body carried a literal '+' that form decoding made a space. "
                    + "The sender must percent-encode '+' as %2B (or the body was decoded before it reached the verifier).")))
        }
        let raw = Self.lenientPairs(body, decode: false, plusAsSpace: false)
        if raw.map(\.value) != decodedValues {
            result.append((raw, Self.decodedTwiceFinding))
        }
        let twice = form.pairs.map { pair -> (key: [UInt8], value: [UInt8]) in
            (pair.key, (try? FormCodec.percentDecode(pair.value[...], fieldKey: nil)) ?? pair.value)
        }
        if twice.map(\.value) != decodedValues {
            result.append((twice, .init(code: .encodedTwice,
                message: "It verifies when values are decoded twice: the body was percent-encoded twice on its way here (e.g. a proxy re-encoded it).")))
        }
        return result
    }

    /// Splits a body into pairs without ever failing: undecodable escapes are kept as they are.
    private static func lenientPairs(_ body: [UInt8], decode: Bool, plusAsSpace: Bool) -> Pairs {
        body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true).map { segment in
            let equals = segment.firstIndex(of: UInt8(ascii: "=")) ?? segment.endIndex
            let key = segment[..<equals]
            let value = equals < segment.endIndex ? segment[(equals + 1)...] : []
            guard decode else { return (Array(key), Array(value)) }
            return ((try? FormCodec.percentDecode(key, fieldKey: nil, plusAsSpace: plusAsSpace)) ?? Array(key),
                    (try? FormCodec.percentDecode(value, fieldKey: nil, plusAsSpace: plusAsSpace)) ?? Array(value))
        }
    }
}
