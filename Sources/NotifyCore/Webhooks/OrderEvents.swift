import AlipayKit
import Foundation
import NotifyStore

/// The order events the merchant's application receives (docs/webhooks.md), and how one is written.
///
/// ``TradeApplier`` calls ``OrderEvents/published(_:transition:orderEventId:now:in:)`` right after a transition and
/// ``OrderEvents/publishedReview(outTradeNo:order:reason:detail:now:in:)`` right after a review, inside the same
/// transaction: an event exists exactly when the change it reports does (the transactional outbox), and each one is
/// delivered by `deliver` jobs enqueued in that transaction too.
public enum OrderEvents {
    /// Event types, as `type` in the payload and in `notifyctl endpoints add --events`.
    public enum EventType: String, Sendable, CaseIterable, Codable {
        /// Unpaid → TRADE_SUCCESS or TRADE_FINISHED: ship the goods.
        case paid = "order.paid"
        /// TRADE_SUCCESS → TRADE_FINISHED: no more refunds are possible.
        case finished = "order.finished"
        /// Unpaid → TRADE_CLOSED (timed out or cancelled).
        case closed = "order.closed"
        /// Money went back to the buyer, partly (status unchanged) or fully (status TRADE_CLOSED).
        case refunded = "order.refunded"
        /// CREATED → WAIT_BUYER_PAY (rare: orders are created as WAIT_BUYER_PAY).
        case waiting = "order.waiting"
        /// Something disagreed (amount, app, seller, unknown order, paid after close …): the order was not changed
        /// and a person must look.
        case needsReview = "order.needs_review"

        /// The type of a transition.
        public init(_ kind: Transition.Kind) {
            switch kind {
            case .waiting: self = .waiting
            case .payment: self = .paid
            case .finish: self = .finished
            case .closeUnpaid: self = .closed
            case .fullRefund, .partialRefund: self = .refunded
            }
        }
    }

    /// The payload, stored and delivered byte for byte: `{"created_at","data":{…},"id","type"}` with sorted keys.
    struct Payload: Encodable {
        struct Data: Encodable {
            var outTradeNo: String
            var tradeNo: String?
            var status: String?
            var previousStatus: String?
            var totalAmount: String?
            var refundedAmount: String?
            var paidAt: String?
            var sequence: Int64
            var reason: String?
            var detail: String?

            enum CodingKeys: String, CodingKey {
                case outTradeNo = "out_trade_no", tradeNo = "trade_no", status, previousStatus = "previous_status"
                case totalAmount = "total_amount", refundedAmount = "refunded_amount", paidAt = "paid_at", sequence, reason, detail
            }

            // Absent values are `null`, never missing: a consumer can rely on every key of its event type.
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(outTradeNo, forKey: .outTradeNo)
                try container.encode(tradeNo, forKey: .tradeNo)
                try container.encode(status, forKey: .status)
                try container.encode(previousStatus, forKey: .previousStatus)
                try container.encode(totalAmount, forKey: .totalAmount)
                try container.encode(refundedAmount, forKey: .refundedAmount)
                try container.encode(paidAt, forKey: .paidAt)
                try container.encode(sequence, forKey: .sequence)
                if reason != nil || detail != nil {
                    try container.encode(reason, forKey: .reason)
                    try container.encode(detail, forKey: .detail)
                }
            }
        }

        var id: String
        var type: String
        var createdAt: String
        var data: Data

        enum CodingKeys: String, CodingKey {
            case id, type, createdAt = "created_at", data
        }

        /// The payload text: what `JSONEncoder` with `.sortedKeys` and `.withoutEscapingSlashes` writes for this type
        /// (a test holds the two equal), written directly because this runs once per applied notification on the
        /// worker's hot path, where the encoder cost more than the event's insert.
        func json() -> String {
            var out = "{\"created_at\":"
            out.reserveCapacity(320)
            Self.append(string: createdAt, to: &out)
            out += ",\"data\":{"
            if data.reason != nil || data.detail != nil {
                out += "\"detail\":"
                Self.append(string: data.detail, to: &out)
                out += ","
            }
            out += "\"out_trade_no\":"
            Self.append(string: data.outTradeNo, to: &out)
            out += ",\"paid_at\":"
            Self.append(string: data.paidAt, to: &out)
            out += ",\"previous_status\":"
            Self.append(string: data.previousStatus, to: &out)
            if data.reason != nil || data.detail != nil {
                out += ",\"reason\":"
                Self.append(string: data.reason, to: &out)
            }
            out += ",\"refunded_amount\":"
            Self.append(string: data.refundedAmount, to: &out)
            out += ",\"sequence\":\(data.sequence),\"status\":"
            Self.append(string: data.status, to: &out)
            out += ",\"total_amount\":"
            Self.append(string: data.totalAmount, to: &out)
            out += ",\"trade_no\":"
            Self.append(string: data.tradeNo, to: &out)
            out += "},\"id\":"
            Self.append(string: id, to: &out)
            out += ",\"type\":"
            Self.append(string: type, to: &out)
            out += "}"
            return out
        }

        /// A JSON string literal (AlipayKit's `JSONStringLiteral`, escaped as `JSONEncoder` escapes), or `null`.
        static func append(string value: String?, to out: inout String) {
            guard let value else {
                out += "null"
                return
            }
            JSONStringLiteral.append(value, to: &out)
        }
    }

    /// A fresh public event id: `evt_` and 32 hex digits — the milliseconds since 1970 (12 digits), then 80 random
    /// bits. Ids made later sort after earlier ones, so the unique index on `event_id` grows at its end instead of
    /// dirtying a random page per insert (measured in BENCHMARKS.md); nothing reads meaning into an id.
    public static func makeEventId(now: Date = Date()) -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        var bytes = [UInt8](repeating: 0, count: 36)
        bytes[0...3] = ArraySlice("evt_".utf8)
        func put(_ value: UInt64, at start: Int, count: Int) {
            var value = value
            for index in stride(from: start + count - 1, through: start, by: -1) {
                bytes[index] = digits[Int(value & 0xF)]
                value >>= 4
            }
        }
        put(UInt64(max(0, now.timeIntervalSince1970 * 1000)) & 0xFFFF_FFFF_FFFF, at: 4, count: 12)
        put(generator.next() as UInt64, at: 16, count: 16)
        put(UInt64(generator.next() as UInt16), at: 32, count: 4)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes the event of a transition that was just applied to `order` (the row as it is now), with its deliveries.
    @discardableResult
    public static func published(
        _ order: Order, transition: Transition, orderEventId: Int64?, now: Date, in db: any StoreTransaction
    ) throws -> WebhookEvent {
        try publish(
            EventType(transition.kind), outTradeNo: order.outTradeNo, order: order, previousStatus: transition.from,
            orderEventId: orderEventId, now: now, in: db)
    }

    /// Writes the `order.needs_review` event of a review: `order` is the row as it is (nil when the order is unknown).
    @discardableResult
    public static func publishedReview(
        outTradeNo: String, order: Order?, reason: ReviewReason, detail: String, now: Date, in db: any StoreTransaction
    ) throws -> WebhookEvent {
        try publish(.needsReview, outTradeNo: outTradeNo, order: order, review: (reason, detail), now: now, in: db)
    }

    /// The one place an event is made: the order's next sequence, a fresh id, the payload text, then the store's
    /// `publish` (the event and its deliveries, in the caller's transaction).
    private static func publish(
        _ type: EventType, outTradeNo: String, order: Order?, previousStatus: OrderStatus? = nil, orderEventId: Int64? = nil,
        review: (reason: ReviewReason, detail: String)? = nil, now: Date, in db: any StoreTransaction
    ) throws -> WebhookEvent {
        let sequence = try db.lastWebhookSequence(outTradeNo: outTradeNo) + 1
        let id = makeEventId(now: now)
        let data = Payload.Data(
            outTradeNo: outTradeNo, tradeNo: order?.tradeNo, status: order?.status.rawValue, previousStatus: previousStatus?.rawValue,
            totalAmount: order.map { Amount(fen: $0.totalAmountFen).description },
            refundedAmount: order.map { Amount(fen: $0.refundedFen).description }, paidAt: order?.paidAt.map(OrderView.timestamp),
            sequence: sequence, reason: review?.reason.rawValue, detail: review?.detail)
        let payload = Payload(id: id, type: type.rawValue, createdAt: OrderView.timestamp(now), data: data).json()
        let event = WebhookEvent(
            eventId: id, type: type.rawValue, outTradeNo: outTradeNo, sequence: sequence, orderEventId: orderEventId, payload: payload,
            createdAt: now)
        return try db.publish(event, now: now).event
    }
}
