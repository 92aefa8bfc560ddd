import Foundation

/// Builds and signs gateway requests: common parameters, `biz_content`, `sign`.
public struct RequestSigner: Sendable {
    /// The app, keys and gateway.
    public let configuration: AlipayConfiguration

    /// Creates a signer.
    public init(configuration: AlipayConfiguration) {
        self.configuration = configuration
    }

    /// Every parameter of `request` including `sign`, values raw (URL-encode them only after this).
    ///
    /// `timestamp` is China time (UTC+8) whatever the server's time zone; `biz_content` is compact JSON with sorted keys.
    public func signedParameters<R: AlipayRequest>(_ request: R, now: Date = Date()) throws -> [String: String] {
        try request.validate()
        var parameters = [
            "app_id": configuration.appId,
            "method": R.method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": configuration.signType.rawValue,
            "timestamp": Self.timestamp(now),
            "version": "1.0",
            "biz_content": try Self.bizContent(request),
        ]
        // Only payments take callbacks: Alipay notifies refunds to the notify_url of the original payment.
        if R.takesNotifyURL, let notifyURL = configuration.notifyURL, !notifyURL.isEmpty { parameters["notify_url"] = notifyURL }
        if R.takesReturnURL, let returnURL = configuration.returnURL, !returnURL.isEmpty { parameters["return_url"] = returnURL }
        if let certificates = configuration.certificates {
            parameters["app_cert_sn"] = certificates.appCertSN
            parameters["alipay_root_cert_sn"] = certificates.rootCertSN
        }
        if let encryptionKey = configuration.encryptionKey, R.encryptsContent {
            // The signature covers the ciphertext and encrypt_type, as Alipay's SDKs sign an encrypted request.
            parameters["biz_content"] = try encryptionKey.encrypt(parameters["biz_content"]!)
            parameters["encrypt_type"] = ContentEncryptionKey.encryptType
        }
        parameters["sign"] = try configuration.appPrivateKey.sign(SignString.forRequest(parameters), type: configuration.signType)
        return parameters
    }

    /// The signed GET URL of the cashier page: the gateway followed by every parameter, URL-encoded after signing.
    public func pagePayURL<R: BrowserPayRequest>(_ request: R, now: Date = Date()) throws -> String {
        let parameters = try signedParameters(request, now: now)
        let separator = configuration.gatewayURL.contains("?") ? "&" : "?"
        return configuration.gatewayURL + separator + FormCodec.encode(parameters)
    }

    /// An auto-submitting HTML form that POSTs the signed parameters to the gateway; every value is HTML-escaped.
    public func pagePayForm<R: BrowserPayRequest>(_ request: R, now: Date = Date()) throws -> String {
        let parameters = try signedParameters(request, now: now)
        let separator = configuration.gatewayURL.contains("?") ? "&" : "?"
        let action = configuration.gatewayURL + separator + "charset=utf-8"
        var html = "<form id=\"alipaysubmit\" name=\"alipaysubmit\" action=\"\(Self.htmlEscape(action))\" method=\"POST\" accept-charset=\"utf-8\">\n"
        for key in parameters.keys.sorted() {
            html += "<input type=\"hidden\" name=\"\(Self.htmlEscape(key))\" value=\"\(Self.htmlEscape(parameters[key]!))\">\n"
        }
        html += "<noscript><button type=\"submit\">Continue to Alipay</button></noscript>\n</form>\n"
        html += "<script>document.forms['alipaysubmit'].submit();</script>\n"
        return html
    }

    /// The order string of an app payment, as Alipay's SDKs' `sdkExecute` makes it: every signed parameter,
    /// URL-encoded, keys sorted, joined with `&`. The app hands it to Alipay's app SDK as it is.
    public func orderString(_ request: TradeAppPay, now: Date = Date()) throws -> String {
        FormCodec.encode(try signedParameters(request, now: now))
    }

    /// "yyyy-MM-dd HH:mm:ss" in China time (UTC+8, no daylight saving), as `timestamp` and `time_expire` want it.
    public static func timestamp(_ date: Date) -> String {
        ChinaTime.string(date)
    }

    /// Reads a time in Alipay's format ("yyyy-MM-dd HH:mm:ss", China time: `gmt_payment`, `send_pay_date`); nil
    /// when the text is not one.
    public static func date(fromTimestamp text: String) -> Date? {
        ChinaTime.date(text)
    }

    /// Compact JSON with sorted keys and unescaped slashes, so the same request always signs the same way.
    static func bizContent<R: AlipayRequest>(_ request: R) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(request), as: UTF8.self)
    }

    /// Escapes `& < > " '` for HTML text and attribute values.
    static func htmlEscape(_ text: String) -> String {
        HTMLEscaping.escape(text)
    }
}

/// Verifies a signed gateway request with the app's public key: what the sandbox does in Alipay's place.
public enum RequestVerifier {
    /// Whether `parameters` carry a valid `sign` for their own `sign_type` (RSA2 or RSA); no `sign_type` is invalid.
    public static func verify(_ parameters: [String: String], appPublicKey: RSAPublicKey) -> Bool {
        guard let sign = parameters["sign"], !sign.isEmpty,
            let type = parameters["sign_type"].flatMap(SignType.init(rawValue:))
        else { return false }
        return appPublicKey.isValidSignature(sign, for: SignString.forRequest(parameters), type: type)
    }
}
