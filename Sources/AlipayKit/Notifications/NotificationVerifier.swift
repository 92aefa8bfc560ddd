import Foundation

/// The verified parameters of a `return_url` redirect (display only: it never changes an order).
public struct ReturnParameters: Sendable {
    /// `out_trade_no`.
    public let outTradeNo: String
    /// `trade_no`.
    public let tradeNo: String
    /// `total_amount`.
    public let totalAmount: Amount
    /// `seller_id`.
    public let sellerId: String?
    /// `app_id`.
    public let appId: String
    /// `timestamp`.
    public let timestamp: String?
    /// Every decoded parameter.
    public let parameters: [String: String]
}

/// Verifies asynchronous notifications and `return_url` queries with Alipay's public key.
public struct NotificationVerifier: Sendable {
    /// Alipay's public key (never the app's own).
    public let alipayPublicKey: RSAPublicKey
    /// The configured `sign_type`; anything else is refused.
    public let signType: SignType
    /// Our `app_id`; anything else is refused.
    public let appId: String
    /// Certificate mode: the SN of the Alipay certificate the key comes from (`alipay.certFile`). A notification naming
    /// another SN was signed after Alipay rotated its certificate.
    public let alipayCertSN: String?
    /// Certificate mode: the process's certificates. A notification whose `alipay_cert_sn` names one adopted since
    /// start-up (fetched and checked by ``AlipayClient/adoptRotatedCertificate(sn:)``) verifies with its key.
    public let keyring: AlipayCertificateKeyring?
    /// Whether the key comes from Alipay's certificate rather than a bare public key.
    public var certificateMode: Bool { alipayCertSN != nil }

    /// Creates a verifier for one app.
    public init(
        alipayPublicKey: RSAPublicKey, signType: SignType = .rsa2, appId: String, alipayCertSN: String? = nil,
        keyring: AlipayCertificateKeyring? = nil
    ) {
        self.alipayPublicKey = alipayPublicKey
        self.signType = signType
        self.appId = appId
        self.alipayCertSN = alipayCertSN
        self.keyring = keyring
    }

    /// Certificate mode with a keyring: the `alipay_cert_sn` a body names when it is neither the configured
    /// certificate's nor one adopted since (Alipay rotated its certificate and this process has not fetched the new
    /// one yet); nil otherwise, and for any body that does not parse. Only worth asking after a refusal.
    public func unknownCertificateSN(body: [UInt8]) -> String? {
        guard let keyring, let form = try? Self.decodeForm(body), let sn = form["alipay_cert_sn"], !sn.isEmpty, sn != alipayCertSN
        else { return nil }
        return keyring.certificate(sn: sn) == nil ? sn : nil
    }

    /// The key a message is checked with: the configured one, or in certificate mode that of the adopted
    /// certificate the message names.
    private func key(for form: FormParameters) -> RSAPublicKey {
        guard let keyring, let sn = form["alipay_cert_sn"], !sn.isEmpty, sn != alipayCertSN, let adopted = keyring.certificate(sn: sn) else {
            return alipayPublicKey
        }
        return adopted.publicKey
    }

    /// Verifies a notification body (application/x-www-form-urlencoded, decoded once) and reads its typed fields.
    public func verify(body: [UInt8]) throws(NotificationError) -> TradeNotification {
        let form = try Self.decodeForm(body)
        try check(form)
        return try TradeNotification(parameters: form.dictionary)
    }

    /// Verifies a notification body given as a string.
    public func verify(body: String) throws(NotificationError) -> TradeNotification {
        try verify(body: Array(body.utf8))
    }

    /// Verifies a body and reads it when this version understands it — but an authentic notification (signature valid,
    /// `app_id` present and ours) that it does not understand (an unknown `trade_status`, another `notify_type`, a
    /// field in an unexpected shape, a missing field) is returned as ``VerifiedNotification/unsupported(parameters:problem:)``
    /// instead of thrown: it must be kept and parked, never refused (Alipay would give up on it after about 25 hours).
    /// Throws only when the body is not authentic.
    public func verifyKeepingUnsupported(body: [UInt8]) throws(NotificationError) -> VerifiedNotification {
        try read(body, checkingSignature: true)
    }

    /// ``verifyKeepingUnsupported(body:)`` of a body whose signature this process already knows to be valid (a body
    /// stored by the receiver after it verified it, and sealed so: see the worker's `NotificationSeal`): every other
    /// check runs (a `sign` present, the `sign_type`, the `app_id`), the RSA verification does not.
    package func readKeepingUnsupported(verifiedBody body: [UInt8]) throws(NotificationError) -> VerifiedNotification {
        try read(body, checkingSignature: false)
    }

    private func read(_ body: [UInt8], checkingSignature: Bool) throws(NotificationError) -> VerifiedNotification {
        let form = try Self.decodeForm(body)
        try check(form, signature: checkingSignature)
        guard let declared = form["app_id"], !declared.isEmpty else { throw .missingField("app_id") }
        let parameters = form.dictionary
        if let type = parameters["notify_type"], type != "trade_status_sync" {
            return .unsupported(parameters: parameters, problem: .invalidField("notify_type", "'\(type)' is not trade_status_sync"))
        }
        do throws(NotificationError) {
            return .trade(try TradeNotification(parameters: parameters))
        } catch {
            return .unsupported(parameters: parameters, problem: error)
        }
    }

    /// ``verifyKeepingUnsupported(body:)`` of a stored text body.
    public func verifyKeepingUnsupported(body: String) throws(NotificationError) -> VerifiedNotification {
        try verifyKeepingUnsupported(body: Array(body.utf8))
    }

    /// return_url query (already split into raw query string, decoded once by FormCodec rules)
    public func verifyReturn(query: String) throws(NotificationError) -> ReturnParameters {
        // By byte, not by Character: "?" followed by a combining mark is one Character, and dropping it would keep
        // the "?" glued to the first key.
        let raw = query.utf8.first == UInt8(ascii: "?") ? String(decoding: query.utf8.dropFirst(), as: UTF8.self) : query
        let form = try Self.decodeForm(Array(raw.utf8))
        try check(form)
        let fields = Fields(form.dictionary)
        return ReturnParameters(
            outTradeNo: try fields.required("out_trade_no"),
            tradeNo: try fields.required("trade_no"),
            totalAmount: try fields.requiredAmount("total_amount"),
            sellerId: fields.optional("seller_id"),
            appId: try fields.required("app_id"),
            timestamp: fields.optional("timestamp"),
            parameters: form.dictionary
        )
    }

    static func decodeForm(_ body: [UInt8]) throws(NotificationError) -> FormParameters {
        do {
            return try FormCodec.decode(body)
        } catch {
            throw .malformedBody(error.message)
        }
    }

    /// The checks every verified message passes, in order: sign present, sign_type, base64, signature, app_id.
    func check(_ form: FormParameters, signature checkingSignature: Bool = true) throws(NotificationError) {
        guard let sign = form["sign"], !sign.isEmpty else { throw .missingSign }
        if let declared = form["sign_type"], !declared.isEmpty, declared.uppercased() != signType.rawValue {
            throw .signTypeMismatch(expected: signType.rawValue, got: declared)
        }
        guard let signature = Data(base64Encoded: sign) else { throw .invalidSignEncoding }
        guard !checkingSignature || key(for: form).isValidSignature(raw: signature, forBytes: form.notificationSignBytes, type: signType) else {
            throw .invalidSignature
        }
        if let declared = form["app_id"], declared != appId { throw .foreignAppId(declared) }
    }
}

/// An authentic notification, understood or not.
public enum VerifiedNotification: Sendable {
    /// A trade status notification this version reads.
    case trade(TradeNotification)
    /// Authentic but not understood: its parameters as sent and what this version could not read.
    case unsupported(parameters: [String: String], problem: NotificationError)

    /// `notify_id` (present in every notification Alipay sends).
    public var notifyId: String? {
        switch self {
        case .trade(let notification): notification.notifyId
        case .unsupported(let parameters, _): parameters["notify_id"]
        }
    }

    /// `out_trade_no`, when present.
    public var outTradeNo: String? {
        switch self {
        case .trade(let notification): notification.outTradeNo
        case .unsupported(let parameters, _): parameters["out_trade_no"]
        }
    }
}
