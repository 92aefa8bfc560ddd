import AlipayKit
import Foundation
import NotifyStore

/// What a caller asks for when refunding (`POST /api/orders/{n}/refunds`, `notifyctl refunds create`).
public struct CreateRefundRequest: Codable, Sendable, Equatable {
    /// The amount to give back, in yuan as Alipay writes it: "10.00".
    public var refundAmount: String
    /// Why (Alipay's `refund_reason`, shown to the buyer).
    public var reason: String?
    /// The merchant's number of this refund request; generated when absent. Asking again with the same number and
    /// amount returns the same refund: never a second one.
    public var outRequestNo: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case refundAmount = "refund_amount", reason, outRequestNo = "out_request_no"
    }

    /// Decodes strictly: an unknown field is an error naming it.
    public init(from decoder: any Decoder) throws {
        try UnknownFieldError.check(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        refundAmount = try container.decode(String.self, forKey: .refundAmount)
        reason = try container.decodeIfPresent(String.self, forKey: .reason)
        outRequestNo = try container.decodeIfPresent(String.self, forKey: .outRequestNo)
    }

    /// A refund request.
    public init(refundAmount: String, reason: String? = nil, outRequestNo: String? = nil) {
        self.refundAmount = refundAmount
        self.reason = reason
        self.outRequestNo = outRequestNo
    }
}

/// The JSON shape of one refund request, in an order's view and as the answer of a refund request.
public struct RefundView: Codable, Sendable, Equatable {
    /// The merchant's number of the request.
    public var outRequestNo: String
    /// The amount, a two-decimal string.
    public var refundAmount: String
    /// Why, when given.
    public var reason: String?
    /// `pending`, `succeeded` or `failed`.
    public var status: String
    /// When the money went back (Alipay's clock), ISO 8601 UTC.
    public var refundedAt: String?
    /// Alipay's `fund_change` of the answer that settled it.
    public var fundChange: Bool?
    /// Why Alipay refused it.
    public var failure: String?
    /// When it was recorded, ISO 8601 UTC.
    public var createdAt: String

    enum CodingKeys: String, CodingKey {
        case outRequestNo = "out_request_no", refundAmount = "refund_amount", reason, status, refundedAt = "refunded_at"
        case fundChange = "fund_change", failure, createdAt = "created_at"
    }

    /// The view of a stored refund.
    public init(_ refund: Refund) {
        outRequestNo = refund.outRequestNo
        refundAmount = Amount(fen: refund.amountFen).description
        reason = refund.reason
        status = refund.status.rawValue
        refundedAt = refund.refundedAt.map(OrderView.timestamp)
        fundChange = refund.fundChange
        failure = refund.failure
        createdAt = OrderView.timestamp(refund.createdAt)
    }

    // Every key written, `null` included, like the order's view.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(outRequestNo, forKey: .outRequestNo)
        try container.encode(refundAmount, forKey: .refundAmount)
        try container.encode(reason, forKey: .reason)
        try container.encode(status, forKey: .status)
        try container.encode(refundedAt, forKey: .refundedAt)
        try container.encode(fundChange, forKey: .fundChange)
        try container.encode(failure, forKey: .failure)
        try container.encode(createdAt, forKey: .createdAt)
    }
}

/// Why a refund could not be requested, with a message the caller can act on.
public enum RefundServiceError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The request is wrong (amount, reason, number): HTTP 400, exit 2.
    case invalid(String)
    /// More than what is left to refund: HTTP 400, exit 2.
    case overRefund(outTradeNo: String, requestedFen: Int64, remainingFen: Int64)
    /// The order is not known: HTTP 404, exit 1.
    case notFound(outTradeNo: String)
    /// The order cannot be refunded (unpaid, finished, closed): HTTP 409, exit 1.
    case notRefundable(outTradeNo: String, status: String)
    /// The request number is taken by a refund of another amount: HTTP 409, exit 1.
    case conflict(String)
    /// Storing failed: HTTP 503.
    case unavailable(String)

    public var description: String {
        switch self {
        case .invalid(let message): message
        case .overRefund(let outTradeNo, let requested, let remaining):
            "refund_amount \(Amount(fen: requested)) is more than what is left to refund of order \(outTradeNo): \(Amount(fen: remaining))"
        case .notFound(let outTradeNo): "no order with out_trade_no \(outTradeNo)"
        case .notRefundable(let outTradeNo, let status):
            "order \(outTradeNo) is \(status): only a paid order (TRADE_SUCCESS) can be refunded"
        case .conflict(let message): message
        case .unavailable(let message): message
        }
    }
}

/// Records refund requests and hands each to a `refund` job (docs/refunds.md); used by the receiver's API and
/// `notifyctl refunds create`.
///
/// The record and its job are written in one transaction, so a request is either refused with nothing written or
/// certain to reach Alipay. The amount left to refund is checked here for a clear answer, and again by the store
/// itself, which refuses a refund that would make the order's refunds exceed its amount whoever writes it.
public struct RefundService: Sendable {
    let store: any Store
    let now: @Sendable () -> Date

    /// A service over one store; `now` is the clock (tests pin it).
    public init(store: any Store, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.now = now
    }

    /// What ``create(outTradeNo:_:)`` did: the refund, and whether this call recorded it (false: the same request
    /// was made before and this is its refund).
    public struct Created: Sendable, Equatable {
        public var refund: RefundView
        public var created: Bool
    }

    /// Validates, records the refund as pending with its job, and returns it; the same number and amount again
    /// returns the earlier refund.
    public func create(outTradeNo: String, _ request: CreateRefundRequest) async throws(RefundServiceError) -> Created {
        let amount = try Self.validatedAmount(request.refundAmount)
        let reason = try request.reason.map(Self.validatedReason)
        let requestNo = try request.outRequestNo.map(Self.validatedRequestNo) ?? Self.generateRequestNo(at: now())
        let now = now()
        do {
            return try await store.write { db throws -> Created in
                guard let order = try db.order(outTradeNo, forUpdate: true) else {
                    throw RefundServiceError.notFound(outTradeNo: outTradeNo)
                }
                let refunds = try db.refunds(outTradeNo)
                if let earlier = refunds.first(where: { $0.outRequestNo == requestNo }) {
                    guard earlier.amountFen == amount.fen else {
                        throw RefundServiceError.conflict(
                            "out_request_no \(requestNo) of order \(outTradeNo) is a refund of \(Amount(fen: earlier.amountFen)), not \(amount)")
                    }
                    return Created(refund: RefundView(earlier), created: false)
                }
                guard order.status == .tradeSuccess else {
                    throw RefundServiceError.notRefundable(outTradeNo: outTradeNo, status: order.status.rawValue)
                }
                let remaining = Self.remaining(order, refunds)
                guard amount.fen <= remaining else {
                    throw RefundServiceError.overRefund(outTradeNo: outTradeNo, requestedFen: amount.fen, remainingFen: remaining)
                }
                let refund = try db.insertRefund(
                    Refund(outTradeNo: outTradeNo, outRequestNo: requestNo, amountFen: amount.fen, reason: reason, createdAt: now))
                try db.enqueue(Refunder.job(for: refund, runAt: now))
                return Created(refund: RefundView(refund), created: true)
            }
        } catch let error as RefundServiceError {
            throw error
        } catch StoreError.overRefund {
            // Another refund of the same order committed between this one's check and its insert.
            let remaining = (try? await store.read { db in try db.order(outTradeNo).map { Self.remaining($0, try db.refunds(outTradeNo)) } }) ?? 0
            throw .overRefund(outTradeNo: outTradeNo, requestedFen: amount.fen, remainingFen: remaining)
        } catch StoreError.duplicate {
            throw .conflict("out_request_no \(requestNo) of order \(outTradeNo) was just taken by another request; ask again to see it")
        } catch {
            throw .unavailable("cannot record the refund: \(error)")
        }
    }

    /// The order's refunds, oldest first.
    public func list(outTradeNo: String) async throws(RefundServiceError) -> [RefundView] {
        let found: [Refund]?
        do {
            found = try await store.read { db in try db.order(outTradeNo) == nil ? nil : try db.refunds(outTradeNo) }
        } catch {
            throw .unavailable("cannot read the refunds: \(error)")
        }
        guard let found else { throw .notFound(outTradeNo: outTradeNo) }
        return found.map(RefundView.init)
    }

    /// What is left to refund: the amount less what Alipay reports refunded and what requests not failed hold,
    /// whichever is more (a refund made in Alipay's console has no request here).
    static func remaining(_ order: Order, _ refunds: [Refund]) -> Int64 {
        let requested = refunds.filter { $0.status != .failed }.reduce(Int64(0)) { $0 + $1.amountFen }
        return max(0, order.totalAmountFen - max(requested, order.refundedFen))
    }
}

extension RefundService {
    /// Parses the decimal amount exactly; at least 0.01, at most Alipay's maximum.
    public static func validatedAmount(_ text: String) throws(RefundServiceError) -> Amount {
        switch InputRules.amount(text, field: "refund_amount") {
        case .success(let amount): return amount
        case .failure(let problem): throw .invalid(problem.message)
        }
    }

    /// A reason Alipay accepts: at most 256 characters, no control characters; blank means none.
    public static func validatedReason(_ text: String) throws(RefundServiceError) -> String {
        let reason = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard reason.count <= 256 else { throw .invalid("reason: at most 256 characters (got \(reason.count))") }
        if let problem = InputRules.controlCharacterProblem(reason, field: "reason") { throw .invalid(problem.message) }
        return reason
    }

    /// A request number Alipay accepts: 1…64 of `A-Z a-z 0-9 _` (the order number's rule).
    public static func validatedRequestNo(_ text: String) throws(RefundServiceError) -> String {
        if let problem = AlipayLimits.outTradeNoProblem(text, field: "out_request_no") { throw .invalid(problem) }
        return text
    }

    /// `R` + the order-number form: sortable by creation, unique enough not to collide.
    public static func generateRequestNo(at date: Date) -> String {
        "R" + OrderService.generateOutTradeNo(at: date)
    }
}
