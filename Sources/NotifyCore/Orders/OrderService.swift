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

    enum CodingKeys: String, CodingKey, CaseIterable {
        case outTradeNo = "out_trade_no", totalAmount = "total_amount", subject
    }

    /// Decodes strictly: a field this version does not know (a typo such as `totalAmount`, or an option of a newer
    /// version) is an error naming it, never silently dropped.
    public init(from decoder: any Decoder) throws {
        try UnknownFieldError.check(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        outTradeNo = try container.decodeIfPresent(String.self, forKey: .outTradeNo)
        totalAmount = try container.decode(String.self, forKey: .totalAmount)
        subject = try container.decode(String.self, forKey: .subject)
    }

    /// Any JSON key, to see the ones a request carries.
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// A request to create an order.
    public init(outTradeNo: String? = nil, totalAmount: String, subject: String) {
        self.outTradeNo = outTradeNo
        self.totalAmount = totalAmount
        self.subject = subject
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

/// A created order and where to send the buyer: the answer of `POST /api/orders`.
public struct CreatedOrder: Codable, Sendable, Equatable {
    /// The merchant order number.
    public var outTradeNo: String
    /// The order's status right after creation (`WAIT_BUYER_PAY`).
    public var status: String
    /// The amount as a two-decimal string.
    public var totalAmount: String
    /// The signed `alipay.trade.page.pay` URL: open it in the buyer's browser.
    public var payURL: String
    /// The same request as an auto-submitting HTML form, for pages that prefer POST.
    public var payForm: String

    enum CodingKeys: String, CodingKey {
        case outTradeNo = "out_trade_no", status, totalAmount = "total_amount", payURL = "pay_url", payForm = "pay_form"
    }

    /// A created order.
    public init(outTradeNo: String, status: String, totalAmount: String, payURL: String, payForm: String) {
        self.outTradeNo = outTradeNo
        self.status = status
        self.totalAmount = totalAmount
        self.payURL = payURL
        self.payForm = payForm
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
    /// Signing or storing failed: HTTP 503.
    case unavailable(String)

    public var description: String {
        switch self {
        case .invalid(let message): message
        case .duplicate(let outTradeNo): "an order with out_trade_no \(outTradeNo) already exists"
        case .notFound(let outTradeNo): "no order with out_trade_no \(outTradeNo)"
        case .notPayable(let outTradeNo, let status): "order \(outTradeNo) is \(status): only an unpaid order gets a pay URL"
        case .unavailable(let message): message
        }
    }
}

/// Creates orders and hands out their signed Alipay pay URL; used by the receiver's API and `notifyctl orders create`.
///
/// An order is stored with status `WAIT_BUYER_PAY` because the pay URL is signed *before* the insert: an order
/// exists in the database only once the buyer can be sent to pay it. The amount is checked to Alipay's range
/// (0.01 … 100000000.00) here, so a request Alipay would refuse never becomes an order.
public struct OrderService: Sendable {

    let store: any Store
    let signer: RequestSigner
    let timeoutMinutes: Int
    let now: @Sendable () -> Date

    /// - Parameters:
    ///   - timeoutMinutes: sent as `time_expire` = creation + timeout, an absolute deadline, so Alipay stops taking
    ///     payment when the worker closes the order (`timeout_express` would count from when the buyer opens the cashier).
    ///   - now: the clock (tests pin it).
    public init(
        store: any Store, signer: RequestSigner, timeoutMinutes: Int, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.store = store
        self.signer = signer
        self.timeoutMinutes = timeoutMinutes
        self.now = now
    }

    /// Validates the request, signs the pay request, stores the order and returns where to send the buyer.
    public func create(_ request: CreateOrderRequest) async throws(OrderServiceError) -> CreatedOrder {
        let amount = try Self.validatedAmount(request.totalAmount)
        let subject = try Self.validatedSubject(request.subject)
        let outTradeNo = try request.outTradeNo.map(Self.validatedOutTradeNo) ?? Self.generateOutTradeNo(at: now())
        let createdAt = now()

        let (payURL, payForm) = try sign(outTradeNo: outTradeNo, amount: amount, subject: subject, createdAt: createdAt, now: createdAt)
        let order = Order(
            outTradeNo: outTradeNo, subject: subject, totalAmountFen: amount.fen, status: .waitBuyerPay,
            createdAt: createdAt)
        do {
            try await store.insertOrder(order)
        } catch StoreError.duplicate {
            throw .duplicate(outTradeNo: outTradeNo)
        } catch {
            throw .unavailable("cannot store the order: \(error)")
        }
        return CreatedOrder(
            outTradeNo: outTradeNo, status: order.status.rawValue, totalAmount: amount.description, payURL: payURL, payForm: payForm)
    }

    /// A freshly signed pay URL and form for an order not paid yet — the buyer lost the link, or the sandbox needs the
    /// cashier opened again. The deadline stays the order's own (`time_expire` = creation + `orders.timeoutMinutes`).
    public func payURL(for outTradeNo: String) async throws(OrderServiceError) -> CreatedOrder {
        let found: Order?
        do {
            found = try await store.order(outTradeNo)
        } catch {
            throw .unavailable("cannot read the order: \(error)")
        }
        guard let order = found else { throw .notFound(outTradeNo: outTradeNo) }
        guard order.status.isUnpaid else { throw .notPayable(outTradeNo: outTradeNo, status: order.status.rawValue) }
        let amount = Amount(fen: order.totalAmountFen)
        let (payURL, payForm) = try sign(outTradeNo: outTradeNo, amount: amount, subject: order.subject, createdAt: order.createdAt, now: now())
        return CreatedOrder(
            outTradeNo: outTradeNo, status: order.status.rawValue, totalAmount: amount.description, payURL: payURL, payForm: payForm)
    }

    /// The signed `alipay.trade.page.pay` URL and form; the deadline is `createdAt` + `orders.timeoutMinutes`.
    private func sign(outTradeNo: String, amount: Amount, subject: String, createdAt: Date, now: Date) throws(OrderServiceError) -> (
        url: String, form: String
    ) {
        let payRequest = TradePagePay(
            outTradeNo: outTradeNo, totalAmount: amount, subject: subject,
            timeExpire: RequestSigner.timestamp(createdAt.addingTimeInterval(TimeInterval(timeoutMinutes * 60))))
        do {
            return (try signer.pagePayURL(payRequest, now: now), try signer.pagePayForm(payRequest, now: now))
        } catch {
            throw .unavailable("cannot sign the pay request: \(error)")
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
