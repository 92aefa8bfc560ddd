import AlipayKit
import Foundation
import Hummingbird

/// The control API, JSON in and out, on the gateway's port (loopback by default; it has no authentication).
///
/// ```
/// POST /sandbox/trades                          {"total_amount":"88.88","subject":"…","notify_url":…}  → 201 pre-trade
/// GET  /sandbox/trades                          → [trade]
/// GET  /sandbox/trades/{out_trade_no}           → trade
/// POST /sandbox/trades/{out_trade_no}/login     → trade (the buyer logged in: a trade at Alipay, WAIT_BUYER_PAY)
/// POST /sandbox/trades/{out_trade_no}/pay       → trade (logs in if needed; TRADE_SUCCESS; notification queued)
/// POST /sandbox/trades/{out_trade_no}/cancel    → trade (times out now: TRADE_CLOSED, notified unless a pre-trade)
/// POST /sandbox/trades/{out_trade_no}/refund    {"refund_amount":"1.00","out_request_no"?,"refund_reason"?} → trade
/// GET  /sandbox/deliveries[?out_trade_no=…&notify_id=…]  → [delivery]
/// POST /sandbox/reset                           → {"reset":true}
/// GET  /sandbox/certificates                    → {"alipay_cert_sn","app_cert_sn","alipay_root_cert_sn"} (certificate mode)
/// POST /sandbox/certificates/rotate             → the same, after Alipay's certificate was replaced by a new one
/// GET  /sandbox/faults, POST /sandbox/faults    {"spec":"500:0.2,drop:3","seed":7} or the fields → faults
/// ```
enum ControlRoutes {
    static let maxBody = 64 * 1024

    static func add(to router: Router<some RequestContext>, sandbox: Sandbox) {
        let group = router.group("sandbox")
        group.post("trades") { request, context -> Response in
            let body = try await decode(CreateTradeRequest.self, from: request, context: context)
            let amount: Amount
            do throws(AmountError) {
                amount = try Amount(body.totalAmount.text)
            } catch {
                throw ControlError(.badRequest, code: "ACQ.INVALID_PARAMETER", message: "total_amount: \(error.problem)")
            }
            let outTradeNo = body.outTradeNo ?? "SBX\(Int64(Date().timeIntervalSince1970 * 1000))\(Int.random(in: 100...999))"
            let trade: Trade
            do throws(TradeError) {
                trade = try await sandbox.openTrade(
                    NewTrade(
                        outTradeNo: outTradeNo, totalAmount: amount, subject: body.subject, body: body.body, notifyUrl: body.notifyUrl,
                        returnUrl: body.returnUrl, passbackParams: body.passbackParams, timeoutExpress: body.timeoutExpress,
                        timeExpire: body.timeExpire))
            } catch {
                throw ControlError(error)
            }
            return try json(TradeView(trade), status: .created)
        }
        group.get("trades") { _, _ -> Response in
            try json(await sandbox.trades().map(TradeView.init))
        }
        group.get("trades/:out_trade_no") { _, context -> Response in
            let outTradeNo = try context.parameters.require("out_trade_no")
            guard let trade = await sandbox.trade(outTradeNo: outTradeNo) else { throw ControlError(.tradeNotExist) }
            return try json(TradeView(trade))
        }
        group.post("trades/:out_trade_no/login") { _, context -> Response in
            let outTradeNo = try context.parameters.require("out_trade_no")
            let trade: Trade
            do throws(TradeError) {
                trade = try await sandbox.login(outTradeNo: outTradeNo)
            } catch {
                throw ControlError(error)
            }
            return try json(TradeView(trade))
        }
        group.post("trades/:out_trade_no/pay") { _, context -> Response in
            let outTradeNo = try context.parameters.require("out_trade_no")
            let trade: Trade
            do throws(TradeError) {
                trade = try await sandbox.pay(outTradeNo: outTradeNo)
            } catch {
                throw ControlError(error)
            }
            return try json(TradeView(trade))
        }
        group.post("trades/:out_trade_no/cancel") { _, context -> Response in
            let outTradeNo = try context.parameters.require("out_trade_no")
            let trade: Trade
            do throws(TradeError) {
                trade = try await sandbox.cancel(outTradeNo: outTradeNo)
            } catch {
                throw ControlError(error)
            }
            return try json(TradeView(trade))
        }
        group.post("trades/:out_trade_no/refund") { request, context -> Response in
            let outTradeNo = try context.parameters.require("out_trade_no")
            let body = try await decode(RefundRequest.self, from: request, context: context)
            let amount: Amount
            do throws(AmountError) {
                amount = try Amount(body.refundAmount.text)
            } catch {
                throw ControlError(.badRequest, code: "ACQ.INVALID_PARAMETER", message: "refund_amount: \(error.problem)")
            }
            let result: RefundResult
            do throws(TradeError) {
                result = try await sandbox.refund(
                    outTradeNo: outTradeNo, tradeNo: nil, amount: amount, outRequestNo: body.outRequestNo ?? "R\(outTradeNo)-\(UUID().uuidString.prefix(8))",
                    reason: body.refundReason)
            } catch {
                throw ControlError(error)
            }
            return try json(TradeView(result.trade))
        }
        // The zip `alipay.data.dataservice.bill.downloadurl.query` points at (like Alipay's URL, no signature).
        group.get("bills/:date") { _, context -> Response in
            let day = context.parameters.get("date") ?? ""
            guard day.wholeMatch(of: /\d{4}-\d{2}-\d{2}/) != nil else {
                throw ControlError(.badRequest, code: "ACQ.INVALID_PARAMETER", message: "the date must be yyyy-MM-dd")
            }
            let zip = try await sandbox.statement(day: day)
            return Response(
                status: .ok, headers: [.contentType: "application/zip", .contentDisposition: "attachment; filename=\"\(day).zip\""],
                body: .init(byteBuffer: ByteBuffer(bytes: zip)))
        }
        group.get("deliveries") { request, _ -> Response in
            let outTradeNo = request.uri.queryParameters.get("out_trade_no")
            let notifyId = request.uri.queryParameters.get("notify_id")
            let deliveries = await sandbox.deliveries().filter {
                (outTradeNo == nil || $0.outTradeNo == outTradeNo) && (notifyId == nil || $0.notifyId == notifyId)
            }
            return try json(deliveries)
        }
        group.post("reset") { _, _ -> Response in
            await sandbox.reset()
            return try json(["reset": true])
        }
        group.get("certificates") { _, _ -> Response in
            try json(try CertificateStatus(sandbox))
        }
        group.post("certificates/rotate") { _, _ -> Response in
            guard let certificates = sandbox.certificates else { throw CertificateStatus.notCertificateMode }
            let sn = try certificates.rotate()
            sandbox.logger.info("Alipay certificate rotated", metadata: ["alipay_cert_sn": "\(sn)"])
            return try json(try CertificateStatus(sandbox))
        }
        group.get("faults") { _, _ -> Response in
            try json(FaultStatus(sandbox.faults))
        }
        group.post("faults") { request, context -> Response in
            let configuration = try await decode(FaultConfiguration.self, from: request, context: context)
            sandbox.faults.update(configuration)
            sandbox.logger.info("faults set", metadata: ["faults": "\(configuration.spec)"])
            return try json(FaultStatus(sandbox.faults))
        }
    }

    /// Decodes a JSON body; an empty or malformed one is a 400 that says what was wrong.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        var request = request
        let buffer = try await request.collectBody(upTo: maxBody)
        do {
            return try SandboxJSON.decoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as SandboxError {
            throw ControlError(.badRequest, code: "invalid_request", message: error.description)
        } catch let DecodingError.keyNotFound(key, _) {
            throw ControlError(.badRequest, code: "invalid_request", message: "missing field \(key.stringValue)")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ControlError(.badRequest, code: "invalid_request", message: "field \(path) has the wrong type")
        } catch {
            throw ControlError(.badRequest, code: "invalid_request", message: "the body is not the expected JSON object")
        }
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try SandboxJSON.encoder().encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// `POST /sandbox/trades`.
struct CreateTradeRequest: Decodable, Sendable {
    var outTradeNo: String?
    var totalAmount: AmountText
    var subject: String
    var body: String?
    var notifyUrl: String?
    var returnUrl: String?
    var passbackParams: String?
    var timeoutExpress: String?
    var timeExpire: String?

    enum CodingKeys: String, CodingKey {
        case outTradeNo = "out_trade_no", totalAmount = "total_amount", subject, body, notifyUrl = "notify_url", returnUrl = "return_url"
        case passbackParams = "passback_params", timeoutExpress = "timeout_express", timeExpire = "time_expire"
    }
}

/// `POST /sandbox/trades/{out_trade_no}/refund`.
struct RefundRequest: Decodable, Sendable {
    var refundAmount: AmountText
    var outRequestNo: String?
    var refundReason: String?

    enum CodingKeys: String, CodingKey {
        case refundAmount = "refund_amount", outRequestNo = "out_request_no", refundReason = "refund_reason"
    }
}

/// A trade as the control API shows it: every `Trade` field plus `cashier_url`, the path of its cashier page.
struct TradeView: Encodable, Sendable {
    let trade: Trade

    init(_ trade: Trade) { self.trade = trade }

    private enum ExtraKeys: String, CodingKey { case cashierUrl = "cashier_url" }

    func encode(to encoder: any Encoder) throws {
        try trade.encode(to: encoder)
        var container = encoder.container(keyedBy: ExtraKeys.self)
        try container.encode("/cashier/\(trade.tradeNo)", forKey: .cashierUrl)
    }
}

/// `GET /sandbox/faults`: the configuration in force and how many deliveries are still to be dropped.
struct FaultStatus: Encodable, Sendable {
    let configuration: FaultConfiguration
    let dropsRemaining: Int

    init(_ injector: FaultInjector) {
        configuration = injector.configuration
        dropsRemaining = injector.dropsRemaining
    }

    private enum ExtraKeys: String, CodingKey { case dropsRemaining = "drops_remaining" }

    func encode(to encoder: any Encoder) throws {
        try configuration.encode(to: encoder)
        var container = encoder.container(keyedBy: ExtraKeys.self)
        try container.encode(dropsRemaining, forKey: .dropsRemaining)
    }
}

/// `GET /sandbox/certificates`: the SNs of certificate mode.
struct CertificateStatus: Encodable {
    let alipayCertSN: String
    let appCertSN: String
    let alipayRootCertSN: String

    static let notCertificateMode = ControlError(.notFound, code: "NOT_CERTIFICATE_MODE", message: "the sandbox runs in public key mode (no sandbox.certDir)")

    init(_ sandbox: Sandbox) throws {
        guard let certificates = sandbox.certificates else { throw Self.notCertificateMode }
        alipayCertSN = certificates.signing.sn
        appCertSN = certificates.appCertSN
        alipayRootCertSN = certificates.rootCertSN
    }

    enum CodingKeys: String, CodingKey {
        case alipayCertSN = "alipay_cert_sn", appCertSN = "app_cert_sn", alipayRootCertSN = "alipay_root_cert_sn"
    }
}
