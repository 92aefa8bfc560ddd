import AlipayKit
import Foundation
import NotifyStore

/// What a caller asks for when creating an order (`POST /api/orders`, `notifyctl orders create`).
public struct CreateOrderRequest: Codable, Sendable, Equatable {
    /// The merchant order number; generated when absent.
    public var outTradeNo: String?
    /// The amount in yuan as Alipay writes it: "88.88".
    public var totalAmount: String
    /// What the buyer pays for.
    public var subject: String
    /// How the buyer pays: `page` (the default), `wap`, `qr` or `app`.
    public var product: String?
    /// `wap` only: where the buyer lands on leaving the cashier unpaid (default `alipay.returnUrl`).
    public var quitURL: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case outTradeNo = "out_trade_no", totalAmount = "total_amount", subject, product, quitURL = "quit_url"
    }

    /// Decodes strictly: a field this version does not know (a typo such as `totalAmount`, or an option of a newer
    /// version) is an error naming it, never silently dropped.
    public init(from decoder: any Decoder) throws {
        try UnknownFieldError.check(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        outTradeNo = try container.decodeIfPresent(String.self, forKey: .outTradeNo)
        totalAmount = try container.decode(String.self, forKey: .totalAmount)
        subject = try container.decode(String.self, forKey: .subject)
        product = try container.decodeIfPresent(String.self, forKey: .product)
        quitURL = try container.decodeIfPresent(String.self, forKey: .quitURL)
    }

    /// Any JSON key, to see the ones a request carries.
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// A request to create an order.
    public init(outTradeNo: String? = nil, totalAmount: String, subject: String, product: String? = nil, quitURL: String? = nil) {
        self.outTradeNo = outTradeNo
        self.totalAmount = totalAmount
        self.subject = subject
        self.product = product
        self.quitURL = quitURL
    }
}

/// A request body named a field this version does not know.
public struct UnknownFieldError: Error, CustomStringConvertible, Sendable {
    /// Throws for the first (alphabetically) key of the decoded object that is not in `known`.
    public static func check(_ decoder: any Decoder, known: [String]) throws {
        let all = try decoder.container(keyedBy: CreateOrderRequest.AnyKey.self)
        if let unknown = all.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
            throw UnknownFieldError(field: unknown, known: known)
        }
    }

    /// The unknown field.
    public var field: String
    /// The fields the request takes.
    public var known: [String]

    public var description: String { "unknown field \"\(field)\" (known: \(known.joined(separator: ", ")))" }
}

/// A created order and what the buyer needs to pay it: the answer of `POST /api/orders`.
///
/// Which fields are set depends on the product (the others are `null`): `page` and `wap` give `pay_url` and
/// `pay_form` (send the buyer's browser there), `qr` gives `qr_code` (render it; the buyer scans it with the Alipay
/// app), `app` gives `order_string` (hand it to Alipay's SDK in your app).
public struct CreatedOrder: Codable, Sendable, Equatable {
    /// The merchant order number.
    public var outTradeNo: String
    /// The order's status right after creation (`WAIT_BUYER_PAY`).
    public var status: String
    /// The amount as a two-decimal string.
    public var totalAmount: String
    /// `page`, `wap`, `qr` or `app`.
    public var product: String
    /// The signed `alipay.trade.page.pay` / `alipay.trade.wap.pay` URL: open it in the buyer's browser.
    public var payURL: String?
    /// The same request as an auto-submitting HTML form, for pages that prefer POST.
    public var payForm: String?
    /// `qr`: Alipay's `qr_code` from `alipay.trade.precreate`.
    public var qrCode: String?
    /// `app`: the signed `alipay.trade.app.pay` order string.
    public var orderString: String?

    enum CodingKeys: String, CodingKey {
        case outTradeNo = "out_trade_no", status, totalAmount = "total_amount", product, payURL = "pay_url", payForm = "pay_form"
        case qrCode = "qr_code", orderString = "order_string"
    }

    /// A created order.
    public init(
        outTradeNo: String, status: String, totalAmount: String, product: String = OrderProduct.page.rawValue, payURL: String? = nil,
        payForm: String? = nil, qrCode: String? = nil, orderString: String? = nil
    ) {
        self.outTradeNo = outTradeNo
        self.status = status
        self.totalAmount = totalAmount
        self.product = product
        self.payURL = payURL
        self.payForm = payForm
        self.qrCode = qrCode
        self.orderString = orderString
    }

    // Every key written, `null` included: a script reads the same keys whatever the product.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(outTradeNo, forKey: .outTradeNo)
        try container.encode(status, forKey: .status)
        try container.encode(totalAmount, forKey: .totalAmount)
        try container.encode(product, forKey: .product)
        try container.encode(payURL, forKey: .payURL)
        try container.encode(payForm, forKey: .payForm)
        try container.encode(qrCode, forKey: .qrCode)
        try container.encode(orderString, forKey: .orderString)
    }
}

/// `alipay.trade.precreate` for QR-code orders (AlipayClient; tests give a fake).
public protocol PrecreateGateway: Sendable {
    /// Asks Alipay for the QR code of a new trade.
    func precreate(_ request: TradePrecreate) async -> GatewayOutcome<TradePrecreateResponse>
}

extension AlipayClient: PrecreateGateway {
    /// `alipay.trade.precreate`, response verified by the client.
    public func precreate(_ request: TradePrecreate) async -> GatewayOutcome<TradePrecreateResponse> {
        await execute(request)
    }
}

/// Why an order could not be created or read, with a message the caller can act on.
public enum OrderServiceError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The request is wrong (amount, subject, order number): HTTP 400, exit 2.
    case invalid(String)
    /// An order with this number already exists: HTTP 409.
    case duplicate(outTradeNo: String)
    /// The order is not known: HTTP 404, exit 1.
    case notFound(outTradeNo: String)
    /// The order is past paying (paid or closed): HTTP 409, exit 1.
    case notPayable(outTradeNo: String, status: String)
    /// Alipay refused the request (`alipay.trade.precreate`): HTTP 502, exit 1, with Alipay's reason.
    case refusedByAlipay(String)
    /// Signing, storing or reaching Alipay failed: HTTP 503.
    case unavailable(String)

    public var description: String {
        switch self {
        case .invalid(let message): message
        case .duplicate(let outTradeNo): "an order with out_trade_no \(outTradeNo) already exists"
        case .notFound(let outTradeNo): "no order with out_trade_no \(outTradeNo)"
        case .notPayable(let outTradeNo, let status): "order \(outTradeNo) is \(status): only an unpaid order gets a pay URL"
        case .refusedByAlipay(let message): message
        case .unavailable(let message): message
        }
    }
}

/// Creates orders and hands out what the buyer pays them with (a signed pay URL, a QR code, an app order string);
/// used by the receiver's API and `notifyctl orders create`.
///
/// An order is stored with status `WAIT_BUYER_PAY` because its payment request is signed (or, for a QR code,
/// answered by Alipay) *before* the insert: an order exists in the database only once the buyer can pay it. The amount is checked to Alipay's range
/// (0.01 … 100000000.00) here, so a request Alipay would refuse never becomes an order.
public struct OrderService: Sendable {

    let store: any Store
    let signer: RequestSigner
    let timeoutMinutes: Int
    let now: @Sendable () -> Date
    /// `alipay.trade.precreate`; without it `qr` orders are refused.
    let precreate: (any PrecreateGateway)?

    /// - Parameters:
    ///   - timeoutMinutes: sent as `time_expire` = creation + timeout, an absolute deadline, so Alipay stops taking
    ///     payment when the worker closes the order (`timeout_express` would count from when the buyer opens the cashier).
    ///   - precreate: Alipay's `alipay.trade.precreate`, for `qr` orders.
    ///   - now: the clock (tests pin it).
    public init(
        store: any Store, signer: RequestSigner, timeoutMinutes: Int, precreate: (any PrecreateGateway)? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.precreate = precreate
        self.store = store
        self.signer = signer
        self.timeoutMinutes = timeoutMinutes
        self.now = now
    }

    /// Validates the request, makes the payment request (signed, or a QR code from Alipay), stores the order and
    /// returns what the buyer needs.
    public func create(_ request: CreateOrderRequest) async throws(OrderServiceError) -> CreatedOrder {
        let amount = try Self.validatedAmount(request.totalAmount)
        let subject = try Self.validatedSubject(request.subject)
        let product = try Self.validatedProduct(request.product)
        let quitURL = try request.quitURL.map { url throws(OrderServiceError) in try Self.validatedQuitURL(url, product: product) }
        let outTradeNo = try request.outTradeNo.map(Self.validatedOutTradeNo) ?? Self.generateOutTradeNo(at: now())
        let createdAt = now()
        if product == .qr {
            // Alipay creates the trade at precreate: a taken number is refused here before it reaches Alipay.
            let taken: Bool
            do {
                taken = try await store.order(outTradeNo) != nil
            } catch {
                throw .unavailable("cannot read the order: \(error)")
            }
            if taken { throw .duplicate(outTradeNo: outTradeNo) }
        }

        let order = Order(
            outTradeNo: outTradeNo, subject: subject, totalAmountFen: amount.fen, status: .waitBuyerPay, createdAt: createdAt,
            product: product)
        let answer = try await payment(for: order, quitURL: quitURL, now: createdAt)
        do {
            try await store.insertOrder(order)
        } catch StoreError.duplicate {
            throw .duplicate(outTradeNo: outTradeNo)
        } catch {
            throw .unavailable("cannot store the order: \(error)")
        }
        return answer
    }

    /// A fresh payment request for an order not paid yet — the buyer lost the link, or the sandbox needs the cashier
    /// opened again: a new signed URL (page, wap), QR code (qr) or order string (app). The deadline stays the
    /// order's own (creation + `orders.timeoutMinutes`).
    public func payURL(for outTradeNo: String) async throws(OrderServiceError) -> CreatedOrder {
        let found: Order?
        do {
            found = try await store.order(outTradeNo)
        } catch {
            throw .unavailable("cannot read the order: \(error)")
        }
        guard let order = found else { throw .notFound(outTradeNo: outTradeNo) }
        guard order.status.isUnpaid else { throw .notPayable(outTradeNo: outTradeNo, status: order.status.rawValue) }
        return try await payment(for: order, quitURL: nil, now: now())
    }

    /// The payment request of `order` for its product.
    private func payment(for order: Order, quitURL: String?, now: Date) async throws(OrderServiceError) -> CreatedOrder {
        let amount = Amount(fen: order.totalAmountFen)
        let deadline = order.createdAt.addingTimeInterval(TimeInterval(timeoutMinutes * 60))
        var answer = CreatedOrder(
            outTradeNo: order.outTradeNo, status: order.status.rawValue, totalAmount: amount.description, product: order.product.rawValue)
        do {
            switch order.product {
            case .page:
                let request = TradePagePay(
                    outTradeNo: order.outTradeNo, totalAmount: amount, subject: order.subject, timeExpire: RequestSigner.timestamp(deadline))
                answer.payURL = try signer.pagePayURL(request, now: now)
                answer.payForm = try signer.pagePayForm(request, now: now)
            case .wap:
                let request = TradeWapPay(
                    outTradeNo: order.outTradeNo, totalAmount: amount, subject: order.subject,
                    quitURL: quitURL ?? signer.configuration.returnURL, timeExpire: RequestSigner.timestamp(deadline))
                answer.payURL = try signer.pagePayURL(request, now: now)
                answer.payForm = try signer.pagePayForm(request, now: now)
            case .app:
                answer.orderString = try signer.orderString(
                    TradeAppPay(outTradeNo: order.outTradeNo, totalAmount: amount, subject: order.subject, timeExpire: RequestSigner.timestamp(deadline)),
                    now: now)
            case .qr:
                answer.qrCode = try await qrCode(order, amount: amount, deadline: deadline, now: now)
            }
        } catch let error as OrderServiceError {
            throw error
        } catch {
            throw .unavailable("cannot sign the payment request: \(error)")
        }
        return answer
    }

    /// `alipay.trade.precreate`: the QR code of the trade; the time left until the order's deadline goes as
    /// `timeout_express` (whole minutes, at least one).
    private func qrCode(_ order: Order, amount: Amount, deadline: Date, now: Date) async throws(OrderServiceError) -> String {
        guard let precreate else {
            throw .unavailable("qr orders need Alipay's gateway (alipay.gatewayUrl), which this process was not given")
        }
        let minutes = max(1, Int((deadline.timeIntervalSince(now) / 60).rounded(.down)))
        let outcome = await precreate.precreate(
            TradePrecreate(outTradeNo: order.outTradeNo, totalAmount: amount, subject: order.subject, timeoutExpress: "\(minutes)m"))
        switch outcome {
        case .success(let answer):
            guard let qrCode = answer.qrCode, !qrCode.isEmpty else {
                throw .unavailable("alipay.trade.precreate answered without qr_code; try again")
            }
            return qrCode
        case .rejected(let code, let subCode, let message):
            throw .refusedByAlipay("alipay.trade.precreate refused: \(subCode ?? code) \(message)")
        case .configurationError(let message):
            throw .unavailable("alipay.trade.precreate: \(message) — check alipay.appId, alipay.signType and the keys")
        case .retryable(let message):
            throw .unavailable("alipay.trade.precreate: \(message); try again")
        case .tradeNotExist:
            throw .unavailable("alipay.trade.precreate answered ACQ.TRADE_NOT_EXIST; try again")
        }
    }

    /// The order as the API and the CLI show it, with its refunds.
    public func find(_ outTradeNo: String) async throws(OrderServiceError) -> OrderView {
        let found: (Order, [Refund])?
        do {
            found = try await store.read { db in try db.order(outTradeNo).map { ($0, try db.refunds(outTradeNo)) } }
        } catch {
            throw .unavailable("cannot read the order: \(error)")
        }
        guard let (order, refunds) = found else { throw .notFound(outTradeNo: outTradeNo) }
        return OrderView(order, refunds: refunds)
    }

    /// Orders, newest first, optionally of one status.
    public func list(status: OrderStatus?, limit: Int = 100) async throws(OrderServiceError) -> [OrderView] {
        do {
            return try await store.read { db in try db.orders(status: status, limit: limit) }.map { OrderView($0) }
        } catch {
            throw .unavailable("cannot list orders: \(error)")
        }
    }
}

extension OrderService {
    /// Parses the decimal amount exactly and checks Alipay's range.
    public static func validatedAmount(_ text: String) throws(OrderServiceError) -> Amount {
        switch InputRules.amount(text, field: "total_amount") {
        case .success(let amount): return amount
        case .failure(let problem): throw .invalid(problem.message)
        }
    }

    /// The product named by a request: `page` when absent.
    public static func validatedProduct(_ text: String?) throws(OrderServiceError) -> OrderProduct {
        guard let text else { return .page }
        guard let product = OrderProduct(rawValue: text) else {
            throw .invalid("product: \"\(text.prefix(40))\" is not one of \(OrderProduct.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return product
    }

    /// A `quit_url`: only for `wap`, an http(s) URL of at most 400 characters.
    public static func validatedQuitURL(_ text: String, product: OrderProduct) throws(OrderServiceError) -> String {
        guard product == .wap else { throw .invalid("quit_url: only a wap order has one (product is \(product.rawValue))") }
        guard text.count <= 400, let url = URL(string: text), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
            throw .invalid("quit_url: must be an http(s) URL of at most 400 characters")
        }
        return text
    }

    /// A subject Alipay accepts: not blank, at most 256 characters, no control characters.
    public static func validatedSubject(_ text: String) throws(OrderServiceError) -> String {
        let subject = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = AlipayLimits.subjectProblem(subject) { throw .invalid(problem) }
        if let problem = InputRules.controlCharacterProblem(subject, field: "subject") { throw .invalid(problem.message) }
        return subject
    }

    /// An order number Alipay accepts and a URL or file name can carry as is: 1…64 of `A-Z a-z 0-9 _`.
    public static func validatedOutTradeNo(_ text: String) throws(OrderServiceError) -> String {
        if let problem = AlipayLimits.outTradeNoProblem(text) { throw .invalid(problem) }
        return text
    }

    /// `yyyyMMddHHmmss` in China time followed by 10 random digits: sortable by creation, unguessable enough to not collide.
    public static func generateOutTradeNo(at date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 8 * 3600)!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let stamp = String(
            format: "%04d%02d%02d%02d%02d%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0, parts.hour ?? 0,
            parts.minute ?? 0, parts.second ?? 0)
        var generator = SystemRandomNumberGenerator()
        let digits = (0..<10).map { _ in String(Int.random(in: 0...9, using: &generator)) }.joined()
        return stamp + digits
    }
}
