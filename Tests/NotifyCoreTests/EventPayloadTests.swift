import Foundation
import Testing

@testable import NotifyCore

/// The order event payload is written by hand on the worker's hot path; it must stay the bytes `JSONEncoder` (sorted
/// keys, slashes unescaped) writes for the same value, since deliveries are signed over what is stored.
@Suite("Order event payload text")
struct EventPayloadTests {
    static let tricky: [String?] = [
        nil, "", "ORDER-1", "演示订单 ☕️ 👍🏽", "a/b\\c\"d", "line\nbreak\r\ttab", "\u{08}\u{0C}", "\u{00}\u{01}\u{1F}\u{7F}",
        "\u{2028}\u{2029}", "</script>", "2026-12-05T01:08:43Z",
    ] + (0..<32).map { String(UnicodeScalar(UInt8($0))) }

    static func encoded(_ payload: OrderEvents.Payload) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(payload), as: UTF8.self)
    }

    @Test("the hand-written text equals JSONEncoder's for every field shape, with and without review fields")
    func matchesEncoder() throws {
        var checked = 0
        for (index, value) in Self.tricky.enumerated() {
            let other = Self.tricky[(index * 7 + 3) % Self.tricky.count]
            for review in [false, true] {
                let data = OrderEvents.Payload.Data(
                    outTradeNo: value ?? "N\(index)", tradeNo: other, status: value, previousStatus: other, totalAmount: value,
                    refundedAmount: other, paidAt: value, sequence: Int64(index) * 1_000_003, reason: review ? value ?? "amount_mismatch" : nil,
                    detail: review ? other : nil)
                let payload = OrderEvents.Payload(id: "evt_\(index)", type: value ?? "order.paid", createdAt: other ?? "", data: data)
                #expect(payload.json() == (try Self.encoded(payload)), "case \(index) review=\(review)")
                checked += 1
            }
        }
        #expect(checked == Self.tricky.count * 2)
    }
}

@Suite("Timestamps and event ids")
struct TimestampTests {
    @Test("OrderView.timestamp writes what ISO8601FormatStyle writes, for whole, fractional, leap-day, old and negative times")
    func matchesFormatStyle() {
        var dates: [Date] = [
            Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -1), Date(timeIntervalSince1970: -0.5),
            Date(timeIntervalSince1970: 951_782_400), Date(timeIntervalSince1970: 1_709_164_799.999), Date(timeIntervalSince1970: 1_764_896_923.25),
            Date(timeIntervalSince1970: 4_102_444_800), Date(timeIntervalSince1970: -2_208_988_800), Date(timeIntervalSince1970: 253_402_300_799),
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 { dates.append(Date(timeIntervalSince1970: Double.random(in: -2e9...4e9, using: &generator))) }
        for date in dates {
            #expect(OrderView.timestamp(date) == date.formatted(Date.ISO8601FormatStyle(timeZone: .gmt)), "\(date.timeIntervalSince1970)")
        }
    }

    @Test("event ids are evt_ and 32 lowercase hex digits, and differ")
    func eventIds() {
        let ids = (0..<1000).map { _ in OrderEvents.makeEventId() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.hasPrefix("evt_") && $0.count == 36 && $0.dropFirst(4).allSatisfy { "0123456789abcdef".contains($0) } })
        // Time-ordered: an id made milliseconds later sorts after (the index on event_id grows at its end).
        let start = Date(timeIntervalSince1970: 1_764_000_000.123)
        let later = (0..<100).map { OrderEvents.makeEventId(now: start.addingTimeInterval(Double($0) * 0.002)) }
        #expect(later == later.sorted())
        #expect(later[0].hasPrefix("evt_" + String(UInt64(1_764_000_000_123), radix: 16).leftPadded(to: 12)))
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
