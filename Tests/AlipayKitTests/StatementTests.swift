import Foundation
import Testing

@testable import AlipayKit

/// Alipay's daily trade statement: GBK CSV with comment lines, quoted fields, trailing tabs, refunds as negative
/// rows; in a zip of the detail and summary files.
@Suite("Trade statements")
struct StatementTests {
    /// A detail file as Alipay writes one (shortened to the columns that matter, plus two it adds that we ignore).
    static let detail = [
        "#支付宝业务明细查询",
        "#账号：[20881234567890120156]",
        "#起始日期：[2026年12月01日 00:00:00]   终止日期：[2026年12月01日 23:59:59]",
        "#-----------------------------------------业务明细列表----------------------------------------",
        "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,订单金额（元）,商家实收（元）,退款批次号/请求号,备注",
        "2026120122001400000000000001\t,20261201000001\t,交易,\"Tea, green \"\"premium\"\"\",2026-12-01 10:00:00,2026-12-01 10:00:05,,88.88,88.88,,",
        "2026120122001400000000000002\t,20261201000002\t,交易,咖啡豆,2026-12-01 11:00:00,2026-12-01 11:00:05,,0.01,0.01,,",
        "2026120122001400000000000001\t,20261201000001\t,退款,\"Tea, green \"\"premium\"\"\",2026-12-01 10:00:00,2026-12-01 15:00:00,,-10.00,-10.00,R1\t,",
        "#-----------------------------------------业务明细列表结束------------------------------------",
        "#交易合计：2笔，退款合计：1笔",
        "#导出时间：[2026年12月02日 10:12:13]",
    ].joined(separator: "\r\n") + "\r\n"

    @Test("a GBK detail file: comments kept apart, quoted commas and quotes, trailing tabs dropped, refunds negative")
    func parsesGBK() throws {
        let bytes = try #require(TradeStatement.gbkBytes(Self.detail))
        #expect(String(validating: bytes, as: UTF8.self) == nil, "really GBK, not UTF-8")
        let statement = try TradeStatement.parse(bytes)
        #expect(statement.preamble.count == 4 && statement.summary == ["#-----------------------------------------业务明细列表结束------------------------------------", "#交易合计：2笔，退款合计：1笔", "#导出时间：[2026年12月02日 10:12:13]"])
        #expect(statement.rows.count == 3)
        let first = statement.rows[0]
        #expect(first.tradeNo == "2026120122001400000000000001" && first.outTradeNo == "20261201000001")
        #expect(first.kind == .payment && first.amountFen == 8888 && first.subject == #"Tea, green "premium""#)
        #expect(first.finishedAt == "2026-12-01 10:00:05" && first.refundRequestNo == nil && first.line == 6)
        #expect(statement.rows[1].amountFen == 1 && statement.rows[1].subject == "咖啡豆")
        let refund = statement.rows[2]
        #expect(refund.kind == .refund && refund.amountFen == -1000 && refund.refundRequestNo == "R1")
    }

    @Test("the same file as UTF-8, with LF lines, reads the same")
    func utf8AndLF() throws {
        let gbk = try TradeStatement.parse(try #require(TradeStatement.gbkBytes(Self.detail)))
        let utf8 = try TradeStatement.parse(Array(Self.detail.replacingOccurrences(of: "\r\n", with: "\n").utf8))
        #expect(gbk.rows == utf8.rows)
    }

    @Test("bad files are refused with the line: no header, a missing column, a short row, an amount that is not one, an open quote")
    func refusals() {
        let header = "支付宝交易号,商户订单号,业务类型,订单金额（元）"
        let cases: [(String, String)] = [
            ("#only comments\r\n", "no header"),
            ("支付宝交易号,商户订单号,业务类型\r\n1,2,交易\r\n", "订单金额"),
            ("\(header)\r\n1,2,交易\r\n", "line 2: 3 fields"),
            ("\(header)\r\n1,2,交易,12.345\r\n", "line 2: 订单金额"),
            ("\(header)\r\n1,2,交易,1e3\r\n", "line 2"),
            ("\(header)\r\n1,\"2,交易,1.00\r\n", "not closed"),
            ("\(header)\r\n,,交易,1.00\r\n", "without 商户订单号"),
            ("\(header)\r\n1,\"2\"x,交易,1.00\r\n", "after a closing quote"),
        ]
        for (text, expected) in cases {
            #expect(throws: StatementError.self, "\(expected)") { _ = try TradeStatement.parse(text: text) }
            do {
                _ = try TradeStatement.parse(text: text)
            } catch {
                #expect(error.description.contains(expected), "\(error.description) for \(text.debugDescription)")
            }
        }
        #expect(throws: StatementError.self) { _ = try TradeStatement.parse([0xFF, 0xFF, 0xFE]) }
    }

    @Test("from a zip of detail and summary (names as Alipay gives them), the detail file is read; other zips are refused")
    func archive() throws {
        let detail = try #require(TradeStatement.gbkBytes(Self.detail))
        let summary = try #require(TradeStatement.gbkBytes("#支付宝业务汇总查询\r\n合计,2\r\n"))
        let zip = try StatementArchive.make([
            ("20881234567890120156_20261201_业务明细(汇总).csv", summary), ("20881234567890120156_20261201_业务明细.csv", detail),
        ])
        #expect(try StatementArchive.statement(zip).rows.count == 3)
        #expect(throws: StatementError.self) { _ = try StatementArchive.statement(Data("not a zip".utf8)) }
        let twoDetails = try StatementArchive.make([("a.csv", detail), ("b.csv", detail)])
        #expect(throws: StatementError.self) { _ = try StatementArchive.statement(twoDetails) }
    }
}
