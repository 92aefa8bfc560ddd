import AlipayKit
import Foundation

/// A day's trade statement for the sandbox's trades, in Alipay's format: a zip of the detail file and its summary,
/// GBK text with CRLF lines, `#` comments around the list, Alipay's 25 columns, long numbers followed by a tab, fields
/// with a comma or a quote quoted.
enum StatementFile {
    /// Alipay's columns of a trade statement's detail file, in its order.
    static let columns = [
        "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称", "操作员", "终端号", "对方账户",
        "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）", "券名称",
        "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注",
    ]

    /// The zip for `day` ("yyyy-MM-dd", China time): payments whose `gmt_payment` and refunds whose `gmt_refund` fall
    /// on it. `plantMismatch` adds 0.01 to the first payment's amount (the fault that proves reconciliation looks).
    static func zip(trades: [Trade], day: String, account: String, plantMismatch: Bool, now: Date) throws -> Data {
        var rows: [[String]] = []
        var payments = 0
        var refunds = 0
        var income: Int64 = 0
        var refunded: Int64 = 0
        for trade in trades {
            if let paid = trade.gmtPayment, paid.hasPrefix(day) {
                var amount = trade.totalAmount.fen
                if plantMismatch && payments == 0 { amount += 1 }
                rows.append(row(trade, type: "交易", finished: paid, fen: amount, requestNo: ""))
                payments += 1
                income += amount
            }
            for refund in trade.refunds where refund.gmtRefund.hasPrefix(day) {
                rows.append(row(trade, type: "退款", finished: refund.gmtRefund, fen: -refund.refundAmount.fen, requestNo: refund.outRequestNo))
                refunds += 1
                refunded += refund.refundAmount.fen
            }
        }
        let compactDay = day.replacingOccurrences(of: "-", with: "")
        let period = "#起始日期：[\(chineseDate(day)) 00:00:00]   终止日期：[\(chineseDate(day)) 23:59:59]"
        var detail = ["#支付宝业务明细查询", "#账号：[\(account)]", period, "#-----------------------------------------业务明细列表----------------------------------------"]
        detail.append(columns.joined(separator: ","))
        detail += rows.map { $0.map(quoted).joined(separator: ",") }
        detail += [
            "#-----------------------------------------业务明细列表结束------------------------------------",
            "#交易合计：\(payments)笔，退款合计：\(refunds)笔",
            "#导出时间：[\(ChinaTime.string(now))]",
        ]
        let summary = [
            "#支付宝业务汇总查询", "#账号：[\(account)]", period,
            "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）",
            "合计,,\(payments),\(refunds),\(Amount(fen: income).description),\(Amount(fen: income - refunded).description)",
            "#导出时间：[\(ChinaTime.string(now))]",
        ]
        let name = "\(account)_\(compactDay)_业务明细"
        return try StatementArchive.make([
            (name + ".csv", gbk(detail.joined(separator: "\r\n") + "\r\n")),
            (name + "(汇总).csv", gbk(summary.joined(separator: "\r\n") + "\r\n")),
        ])
    }

    static func row(_ trade: Trade, type: String, finished: String, fen: Int64, requestNo: String) -> [String] {
        var values = Array(repeating: "", count: columns.count)
        values[0] = trade.tradeNo + "\t"
        values[1] = trade.outTradeNo + "\t"
        values[2] = type
        values[3] = trade.subject
        values[4] = trade.gmtCreate
        values[5] = finished
        values[10] = trade.buyerLogonId ?? ""
        let yuan = (fen < 0 ? "-" : "") + Amount(fen: abs(fen)).description
        values[11] = yuan
        values[12] = yuan
        values[21] = requestNo.isEmpty ? "" : requestNo + "\t"
        for index in [13, 14, 15, 16, 17, 19, 20, 22, 23] { values[index] = "0.00" }
        return values
    }

    /// A field as Alipay writes it: quoted when it holds a comma, a quote or a line break.
    static func quoted(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// GBK bytes; a character GBK cannot hold (an emoji) becomes `?`, as a GBK export writes it.
    static func gbk(_ text: String) -> [UInt8] {
        if let bytes = TradeStatement.gbkBytes(text) { return bytes }
        var out: [UInt8] = []
        for character in text {
            out += TradeStatement.gbkBytes(String(character)) ?? [UInt8(ascii: "?")]
        }
        return out
    }

    /// "2026年12月01日" for "2026-12-01".
    static func chineseDate(_ day: String) -> String {
        let parts = day.split(separator: "-")
        guard parts.count == 3 else { return day }
        return "\(parts[0])年\(parts[1])月\(parts[2])日"
    }
}
