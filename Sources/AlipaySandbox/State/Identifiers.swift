import AlipayKit
import Foundation

/// Makes the numbers Alipay hands out, in Alipay's shapes.
enum Identifiers {
    /// `trade_no`: day, `2200140`, 13-digit sequence: `2026112922001400000000001234` (28 digits).
    static func tradeNo(day: Date, sequence: Int64) -> String {
        ChinaTime.compactDay(day) + "2200140" + zeroPadded(sequence, 13)
    }

    /// `notify_id`: day, `00222`, time of day, 15-digit sequence, 34 digits as Alipay's
    /// (`2020042000222134746071970505373170` was sent at 13:47:46 on 2020-04-20).
    static func notifyId(day: Date, sequence: Int64) -> String {
        ChinaTime.compactDay(day) + "00222" + ChinaTime.compactTime(day) + zeroPadded(sequence, 15)
    }

    /// `buyer_id`: `2088` and 12 digits.
    static func buyerId(using generator: inout some RandomNumberGenerator) -> String {
        "2088" + zeroPadded(Int64.random(in: 0..<1_000_000_000_000, using: &generator), 12)
    }

    /// `buyer_logon_id`: a mobile number masked as Alipay shows it, `138****8000`.
    static func maskedLogonId(using generator: inout some RandomNumberGenerator) -> String {
        let prefix = ["135", "136", "138", "139", "150", "158", "186", "188"].randomElement(using: &generator)!
        return prefix + "****" + zeroPadded(Int64.random(in: 0..<10_000, using: &generator), 4)
    }

    static func zeroPadded(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
