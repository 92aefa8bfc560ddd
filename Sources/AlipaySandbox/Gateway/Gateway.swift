import AlipayKit
import Foundation
import Hummingbird
import ServiceLifecycle

/// `GET|POST /gateway.do`: checks a request exactly as Alipay does, then runs the method and answers in Alipay's shape.
///
/// Server-to-server methods answer `{"<method>_response":{…},"sign":"…"}`, signed over the raw node text with
/// Alipay's key (ResponseSigner); a foreign `app_id` or an unusable `sign_type` is answered unsigned, as Alipay does,
/// and an unknown method as an unsigned `error_response`. `alipay.trade.page.pay` answers the cashier page, or
/// Alipay's HTML error page.
struct Gateway: Sendable {
    let sandbox: Sandbox

    /// Parameters may come in the query string, the form body, or both (the official SDKs put the common ones in the URL).
    static let maxBody = 1 << 20

    /// Alipay's `sub_msg` when a POST's `charset` is not in the URL's query string, where the gateway reads it.
    static let charsetNotInURLMessage = "验签出错，请确认charset参数放在了URL查询字符串中且各参数值使用charset参数指示的字符集编码"

    func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        var request = request
        let received: ReceivedParameters
        do {
            received = try await Self.parameters(of: &request, context: context)
        } catch let rejection as GatewayRejection {
            return Self.json(ResponseSigner.errorBody(method: "", responseJSON: rejection.json))
        }
        let parameters = received.values
        guard let methodName = parameters["method"], !methodName.isEmpty else {
            return Self.json(ResponseSigner.errorBody(method: "", responseJSON: GatewayRejection.missing("isv.missing-method", "缺少方法名参数", signed: false).json))
        }
        guard let method = GatewayMethod(rawValue: methodName) else {
            return Self.json(
                ResponseSigner.errorBody(method: methodName, responseJSON: GatewayRejection.invalid("isv.invalid-method", "不存在的方法名", signed: false).json))
        }
        if method.opensCashier {
            return await cashier(received, method: method)
        }
        let configuration = sandbox.configuration
        // One key type per app at Alipay: answers are always signed with it, whatever the request claimed.
        let signType = configuration.signType
        // The key Alipay signs with now (a rotated certificate's, in certificate mode) and the SN answers carry.
        let signing = sandbox.signing
        let fault = sandbox.faults.gatewayFault()
        switch fault {
        case .http500:
            sandbox.logger.info("fault: gateway answers HTTP 500", metadata: ["method": "\(methodName)"])
            return Response(
                status: .internalServerError, headers: [.contentType: "text/html;charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "<html><body><h1>500 Internal Server Error</h1></body></html>")))
        case .unknownError:
            sandbox.logger.info("fault: gateway answers 20000 isp.unknow-error", metadata: ["method": "\(methodName)"])
            var node = JSONObjectText()
            node.add("code", "20000")
            node.add("msg", "Service Currently Unavailable")
            node.add("sub_code", "isp.unknow-error")
            node.add("sub_msg", "系统繁忙")
            return Self.json(
                try ResponseSigner.body(method: methodName, responseJSON: node.text, key: signing.key, signType: signType, alipayCertSN: signing.certSN))
        default: break
        }

        let nodeJSON: String
        // An encrypted request is answered encrypted (with the same key); a refused one in the clear.
        var answerKey: ContentEncryptionKey?
        switch Self.checkAndDecrypt(received, method: method, configuration: configuration, certificates: sandbox.certificates) {
        case .failure(let rejection):
            sandbox.logger.info("gateway request refused", metadata: ["method": "\(methodName)", "sub_code": "\(rejection.subCode)"])
            guard rejection.signed else { return Self.json("{\"\(ResponseVerifier.responseKey(method: methodName))\":\(rejection.json)}") }
            nodeJSON = rejection.json
        case .success(let plain):
            // Download URLs point back at this sandbox, as the buyer's browser or the merchant reached it.
            let origin = "http://" + (request.head.authority ?? "\(configuration.host):\(configuration.port)")
            nodeJSON = await run(method, plain, origin: origin)
            answerKey = plain["encrypt_type"] == nil ? nil : configuration.encryptionKey
        }
        var body = try ResponseSigner.body(
            method: methodName, responseJSON: nodeJSON, key: signing.key, signType: signType, alipayCertSN: signing.certSN, encryptionKey: answerKey)
        switch fault {
        case .slow:
            sandbox.logger.info("fault: gateway answer delayed", metadata: ["method": "\(methodName)", "seconds": "\(sandbox.faults.configuration.slowSeconds)"])
            // A stopping sandbox answers at once: the request is processed already, and a held answer must not keep
            // its graceful shutdown waiting for `slowSeconds` (the server waits for every request in flight).
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: sandbox.faults.slowDelay) }
        case .badSign:
            sandbox.logger.info("fault: gateway answer with a bad signature", metadata: ["method": "\(methodName)"])
            let wrong = try signing.key.sign(nodeJSON + " ", type: signType)
            body = "{\"\(ResponseVerifier.responseKey(method: methodName))\":\(nodeJSON),\"sign\":\"\(wrong)\"}"
        case .garbage:
            sandbox.logger.info("fault: gateway answer cut in half", metadata: ["method": "\(methodName)"])
            body = String(decoding: Array(body.utf8).prefix(body.utf8.count / 2), as: UTF8.self)
        default: break
        }
        if fault == nil || fault == .slow, answerKey == nil, signing.certSN == nil, nodeJSON.contains("/"), sandbox.faults.shouldEscapeSlashes() {
            // Signed over the text with "/", sent with "\/": what some of Alipay's answers look like on the wire.
            sandbox.logger.info("fault: gateway answer with escaped slashes", metadata: ["method": "\(methodName)"])
            let sign = try signing.key.sign(nodeJSON, type: signType)
            let escaped = nodeJSON.replacingOccurrences(of: "/", with: "\\/")
            body = "{\"\(ResponseVerifier.responseKey(method: methodName))\":\(escaped),\"sign\":\"\(sign)\"}"
        }
        return Self.json(body)
    }

    // MARK: Methods

    private func run(_ method: GatewayMethod, _ parameters: [String: String], origin: String) async -> String {
        do {
            let biz = try BizContent.parse(parameters["biz_content"])
            switch method {
            case .query:
                let reference = try biz.tradeReference()
                guard let trade = await sandbox.existingTrade(outTradeNo: reference.outTradeNo, tradeNo: reference.tradeNo) else {
                    throw TradeError.tradeNotExist
                }
                return Self.queryNode(trade, fundBillList: biz.queryOptions?.contains("fund_bill_list") == true)
            case .close:
                let reference = try biz.tradeReference()
                let trade = try await sandbox.close(outTradeNo: reference.outTradeNo, tradeNo: reference.tradeNo)
                var node = Self.successNode()
                node.add("trade_no", trade.tradeNo)
                node.add("out_trade_no", trade.outTradeNo)
                return node.text
            case .refund:
                let reference = try biz.tradeReference()
                let amount = try BizContent.amount(biz.refundAmount, field: "refund_amount")
                let result = try await sandbox.refund(
                    outTradeNo: reference.outTradeNo, tradeNo: reference.tradeNo, amount: amount, outRequestNo: biz.outRequestNo,
                    reason: biz.refundReason)
                var node = Self.successNode()
                node.add("trade_no", result.trade.tradeNo)
                node.add("out_trade_no", result.trade.outTradeNo)
                node.add("buyer_logon_id", result.trade.buyerLogonId)
                node.add("buyer_user_id", result.trade.buyerId)
                node.add("fund_change", result.fundChange ? "Y" : "N")
                node.add("refund_fee", result.trade.refundedAmount.description)
                node.add("gmt_refund_pay", result.refund.gmtRefund)
                return node.text
            case .refundQuery:
                let reference = try biz.tradeReference()
                guard let requestNo = biz.outRequestNo, !requestNo.isEmpty else {
                    throw TradeError.invalidParameter("out_request_no is required")
                }
                guard let trade = await sandbox.existingTrade(outTradeNo: reference.outTradeNo, tradeNo: reference.tradeNo) else {
                    throw TradeError.tradeNotExist
                }
                var node = Self.successNode()
                node.add("trade_no", trade.tradeNo)
                node.add("out_trade_no", trade.outTradeNo)
                node.add("out_request_no", requestNo)
                // Alipay answers 10000 for a request number it never refunded, without the refund's fields.
                if let refund = trade.refunds.first(where: { $0.outRequestNo == requestNo }) {
                    node.add("total_amount", trade.totalAmount.description)
                    node.add("refund_amount", refund.refundAmount.description)
                    node.add("refund_status", "REFUND_SUCCESS")
                    if biz.queryOptions?.contains("gmt_refund_pay") == true { node.add("gmt_refund_pay", refund.gmtRefund) }
                }
                return node.text
            case .certDownload:
                guard let sn = biz.alipayCertSN, !sn.isEmpty else { throw TradeError.invalidParameter("alipay_cert_sn is required") }
                guard let pem = sandbox.certificates?.certificatePEM(sn: sn) else { throw TradeError.certNotExist }
                var node = Self.successNode()
                node.add("alipay_cert_content", Data(pem.utf8).base64EncodedString())
                return node.text
            case .billQuery:
                guard biz.billType == "trade" else { throw TradeError.invalidParameter("bill_type: the sandbox makes trade statements only") }
                guard let day = biz.billDate, day.wholeMatch(of: /\d{4}-\d{2}-\d{2}/) != nil else {
                    throw TradeError.invalidParameter("bill_date must be yyyy-MM-dd")
                }
                // A day's statement exists from the next day on (China time).
                let today = ChinaTime.day(Date())
                guard day < today || (day == today && sandbox.configuration.billsIncludeToday) else { throw TradeError.billNotExist }
                var node = Self.successNode()
                node.add("bill_download_url", "\(origin)/sandbox/bills/\(day)")
                return node.text
            case .precreate:
                guard let outTradeNo = biz.outTradeNo, !outTradeNo.isEmpty else { throw TradeError.invalidParameter("out_trade_no is required") }
                guard let subject = biz.subject, !subject.isEmpty else { throw TradeError.invalidParameter("subject is required") }
                let amount = try BizContent.amount(biz.totalAmount, field: "total_amount")
                // Alipay keeps no trade until the code is scanned: a pre-trade, paid through the cashier or `pay`.
                let trade = try await sandbox.openTrade(
                    NewTrade(
                        outTradeNo: outTradeNo, totalAmount: amount, subject: subject, body: biz.body, notifyUrl: parameters["notify_url"],
                        timeoutExpress: biz.timeoutExpress, timeExpire: biz.timeExpire, productCode: Trade.faceToFace))
                var node = Self.successNode()
                node.add("out_trade_no", trade.outTradeNo)
                node.add("qr_code", trade.qrCode ?? "")
                return node.text
            case .pagePay, .wapPay, .appPay:
                preconditionFailure("\(method.rawValue) is answered with the cashier page")
            }
        } catch let error as TradeError {
            var node = JSONObjectText()
            node.add("code", error.code)
            node.add("msg", "Business Failed")
            node.add("sub_code", error.subCode)
            node.add("sub_msg", error.subMessage)
            if let outTradeNo = (try? BizContent.parse(parameters["biz_content"]))?.outTradeNo { node.add("out_trade_no", outTradeNo) }
            return node.text
        } catch {
            preconditionFailure("sandbox operations only throw TradeError: \(error)")
        }
    }

    /// `alipay.trade.page.pay`, `.wap.pay`, `.app.pay`: open (or show again) the order's cashier; no trade exists until
    /// the buyer logs in.
    private func cashier(_ received: ReceivedParameters, method: GatewayMethod) async -> Response {
        let parameters: [String: String]
        switch Self.checkAndDecrypt(received, method: method, configuration: sandbox.configuration, certificates: sandbox.certificates) {
        case .failure(let rejection):
            sandbox.logger.info("page.pay refused", metadata: ["sub_code": "\(rejection.subCode)"])
            return Self.html(CashierPage.error(code: rejection.code, subCode: rejection.subCode, message: rejection.subMessage))
        case .success(let plain):
            parameters = plain
        }
        do {
            let biz = try BizContent.parse(parameters["biz_content"])
            guard let outTradeNo = biz.outTradeNo, !outTradeNo.isEmpty else { throw TradeError.invalidParameter("out_trade_no is required") }
            guard let subject = biz.subject, !subject.isEmpty else { throw TradeError.invalidParameter("subject is required") }
            guard let productCode = method.productCode, biz.productCode == productCode else {
                throw TradeError.invalidParameter("product_code must be \(method.productCode ?? "?") for \(method.rawValue)")
            }
            let amount = try BizContent.amount(biz.totalAmount, field: "total_amount")
            let trade = try await sandbox.openTrade(
                NewTrade(
                    outTradeNo: outTradeNo, totalAmount: amount, subject: subject, body: biz.body, notifyUrl: parameters["notify_url"],
                    returnUrl: parameters["return_url"], passbackParams: biz.passbackParams, timeoutExpress: biz.timeoutExpress,
                    timeExpire: biz.timeExpire, productCode: productCode))
            return Self.html(CashierPage.cashier(CashierRoutes.summary(trade, configuration: sandbox.configuration)))
        } catch let error as TradeError {
            return Self.html(CashierPage.error(code: error.code, subCode: error.subCode, message: error.subMessage))
        } catch {
            preconditionFailure("sandbox operations only throw TradeError: \(error)")
        }
    }

    // MARK: Checks

    /// ``check(_:configuration:certificates:)``, then `biz_content` decrypted when the request says `encrypt_type=AES`:
    /// the parameters the method runs with.
    static func checkAndDecrypt(
        _ received: ReceivedParameters, method: GatewayMethod, configuration: SandboxConfiguration, certificates: SandboxCertificates?
    ) -> Result<[String: String], GatewayRejection> {
        if let rejection = check(received, configuration: configuration, certificates: certificates) { return .failure(rejection) }
        var parameters = received.values
        guard let encryptType = parameters["encrypt_type"], !encryptType.isEmpty else {
            if configuration.requireEncryption, method.requiresEncryptionWhenOn {
                return .failure(.missing("isv.missing-encrypt-type", "缺少加密类型参数encrypt_type：该应用已开启接口内容加密，请使用AES加密biz_content"))
            }
            return .success(parameters)
        }
        guard encryptType == ContentEncryptionKey.encryptType else {
            return .failure(.invalid("isv.decryption-error-not-valid-encrypt-type", "解密出错，不支持的加密算法"))
        }
        guard let key = configuration.encryptionKey else {
            return .failure(.invalid("isv.decryption-error-missing-encrypt-key", "解密出错，未配置加密密钥或加密密钥格式错误"))
        }
        guard let ciphertext = parameters["biz_content"], let plaintext = try? key.decrypt(ciphertext) else {
            return .failure(.invalid("isv.decryption-error-unknown", "解密出错，未知异常"))
        }
        parameters["biz_content"] = plaintext
        return .success(parameters)
    }

    /// Alipay's checks of the common parameters, in its order; nil when the request may proceed.
    static func check(_ received: ReceivedParameters, configuration: SandboxConfiguration, certificates: SandboxCertificates? = nil) -> GatewayRejection? {
        let parameters = received.values
        func present(_ key: String) -> String? { parameters[key].flatMap { $0.isEmpty ? nil : $0 } }
        guard let appId = present("app_id") else { return .missing("isv.missing-app-id", "缺少AppID参数", signed: false) }
        guard appId == configuration.appId else { return .invalid("isv.invalid-app-id", "无效的AppID参数", signed: false) }
        guard let signTypeText = present("sign_type") else { return .missing("isv.missing-signature-type", "缺少签名类型参数", signed: false) }
        guard let signType = SignType(rawValue: signTypeText) else { return .invalid("isv.invalid-signature-type", "无效的签名类型", signed: false) }
        guard present("sign") != nil else { return .missing("isv.missing-signature", "缺少签名参数") }
        guard let timestamp = present("timestamp") else { return .missing("isv.missing-timestamp", "缺少时间戳参数") }
        guard ChinaTime.date(timestamp) != nil else { return .invalid("isv.invalid-timestamp", "非法的时间戳参数") }
        if let format = present("format"), format.uppercased() != "JSON" { return .invalid("isv.invalid-format", "无效的数据格式") }
        if let charset = present("charset") {
            switch charset.lowercased() {
            case "utf-8", "utf8": break
            case "gbk", "gb2312", "gb18030":
                // Alipay verifies these over the bytes in that charset; the sandbox does not, so it says so plainly
                // instead of failing the signature for a reason the merchant could not see.
                return .invalid("isv.invalid-charset", "alipay-sandbox只校验charset=utf-8的请求(\(charset) is not supported by the sandbox): 请使用utf-8")
            default:
                return .invalid("isv.invalid-charset", "字符集错误")
            }
        }
        guard signType == configuration.signType else {
            return .invalid(
                "isv.invalid-signature",
                "验签出错，sign值与sign_type参数指定的签名类型不一致：sign_type参数值为\(signType.rawValue)，您实际用的签名类型可能是\(configuration.signType.rawValue)")
        }
        if received.charsetOnlyInBody {
            return .invalid("isv.invalid-signature", charsetNotInURLMessage)
        }
        if let certificates {
            // Certificate mode: Alipay finds the app's key by the app certificate's SN, and checks the roots' SN.
            guard present("app_cert_sn") == certificates.appCertSN else {
                return .invalid("isv.app-cert-not-exist", "应用公钥证书不存在", signed: false)
            }
            guard present("alipay_root_cert_sn") == certificates.rootCertSN else {
                return .invalid("isv.invalid-alipay-root-cert-sn", "无效支付宝根证书序列号", signed: false)
            }
        }
        guard RequestVerifier.verify(parameters, appPublicKey: configuration.appPublicKey) else {
            return .invalid(
                "isv.invalid-signature",
                "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：\(htmlEscaped(SignString.forRequest(parameters)))")
        }
        return nil
    }

    /// Alipay writes `&` and `"` of the string it verified as HTML entities in `sub_msg`.
    static func htmlEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// What a gateway request carried: its parameters, and whether a POST body came without `charset` in the URL.
    struct ReceivedParameters: Sendable {
        /// The query string's and the body's parameters together.
        var values: [String: String]
        /// A POST with parameters in its body and no `charset` in the URL's query string: Alipay reads the charset
        /// from the URL only, so such a request fails verification there (a common production failure).
        var charsetOnlyInBody: Bool
    }

    /// The query string's and the body's parameters together, each decoded exactly once; the body is read in the
    /// charset of the URL (only UTF-8 passes `check`).
    static func parameters(of request: inout Request, context: some RequestContext) async throws -> ReceivedParameters {
        var parameters: [String: String] = [:]
        var bodyHasParameters = false
        do {
            if let query = request.uri.query, !query.isEmpty {
                parameters = try FormCodec.decode(query).dictionary
            }
            let charsetInURL = parameters["charset"].map { !$0.isEmpty } ?? false
            if request.method == .post {
                let buffer = try await request.collectBody(upTo: maxBody)
                let bytes = Array(buffer.readableBytesView)
                if !bytes.isEmpty {
                    let contentType = request.headers[.contentType] ?? ""
                    let fields: [String: String]
                    if contentType.isEmpty || contentType.lowercased().hasPrefix("application/x-www-form-urlencoded") {
                        fields = try FormCodec.decode(bytes).dictionary
                    } else if let boundary = MultipartForm.boundary(contentType: contentType) {
                        do {
                            fields = try MultipartForm.fields(bytes, boundary: boundary)
                        } catch {
                            throw GatewayRejection.invalid("isv.invalid-parameter", "参数格式错误: \(error.message)", signed: false)
                        }
                    } else {
                        throw GatewayRejection.invalid(
                            "isv.invalid-content-type", "请使用application/x-www-form-urlencoded或multipart/form-data提交参数", signed: false)
                    }
                    for (key, value) in fields {
                        if let existing = parameters[key], existing != value {
                            throw GatewayRejection.invalid("isv.invalid-parameter", "参数\(key)在URL与请求体中的值不一致", signed: false)
                        }
                        parameters[key] = value
                    }
                    bodyHasParameters = !fields.isEmpty
                }
            }
            return ReceivedParameters(values: parameters, charsetOnlyInBody: bodyHasParameters && !charsetInURL)
        } catch let error as FormError {
            throw GatewayRejection.invalid("isv.invalid-parameter", "参数格式错误: \(error.message)", signed: false)
        }
    }

    // MARK: Bodies

    static func successNode() -> JSONObjectText {
        var node = JSONObjectText()
        node.add("code", "10000")
        node.add("msg", "Success")
        return node
    }

    /// The `alipay.trade.query` node; `fund_bill_list` only when `query_options` asked for it, as at Alipay.
    static func queryNode(_ trade: Trade, fundBillList: Bool = false) -> String {
        var node = successNode()
        let paid = trade.gmtPayment != nil
        let zero = "0.00"
        node.add("trade_no", trade.tradeNo)
        node.add("out_trade_no", trade.outTradeNo)
        node.add("buyer_logon_id", trade.buyerLogonId)
        node.add("buyer_user_id", trade.buyerId)
        node.add("trade_status", trade.status.rawValue)
        node.add("total_amount", trade.totalAmount.description)
        node.add("buyer_pay_amount", paid ? trade.totalAmount.description : zero)
        node.add("point_amount", zero)
        node.add("invoice_amount", paid ? trade.totalAmount.description : zero)
        node.add("receipt_amount", paid ? trade.totalAmount.description : zero)
        node.add("send_pay_date", trade.gmtPayment)
        if paid && fundBillList {
            var bill = JSONObjectText()
            bill.add("fund_channel", "ALIPAYACCOUNT")
            bill.add("amount", trade.totalAmount.description)
            node.addRaw("fund_bill_list", "[\(bill.text)]")
        }
        node.add("subject", trade.subject)
        return node.text
    }

    static func json(_ body: String) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json;charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func html(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html;charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
