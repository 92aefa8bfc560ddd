@testable import AlipayKit
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import ZIPFoundation

@testable import AlipaySandbox

/// The sandbox's trade statements: what `alipay.data.dataservice.bill.downloadurl.query` points at, in Alipay's format
/// (a zip of a GBK detail file and its summary, CRLF lines, `#` comments around the list, the 25 columns).
@Suite("sandbox trade statements")
struct StatementDownloadTests {
    static let subject = #"咖啡, "大杯" & 蛋糕"#

    /// A harness with one paid trade and one partial refund today; its statements include today.
    static func harness(faults: String = "") throws -> SandboxHarness {
        var configuration = Fixtures.configuration(faults: try FaultConfiguration(spec: faults))
        configuration.billsIncludeToday = true
        return try SandboxHarness(configuration)
    }

    static func payAndRefund(_ sandbox: Sandbox) async throws {
        _ = try await sandbox.openTrade(NewTrade(outTradeNo: "BILL1", totalAmount: Amount(fen: 8888), subject: subject))
        _ = try await sandbox.pay(outTradeNo: "BILL1")
        _ = try await sandbox.refund(outTradeNo: "BILL1", tradeNo: nil, amount: Amount(fen: 1000), outRequestNo: "RQ1", reason: "broken")
    }

    /// The zip's entries, name → bytes.
    static func entries(_ zip: Data) throws -> [String: [UInt8]] {
        let archive = try Archive(data: zip, accessMode: .read)
        var files: [String: [UInt8]] = [:]
        for entry in archive {
            var bytes: [UInt8] = []
            _ = try archive.extract(entry) { bytes += $0 }
            files[entry.path] = bytes
        }
        return files
    }

    @Test("the download URL's zip: a GBK detail file with Alipay's comments, 25 columns, quoted fields and totals, and its summary")
    func alipaysFormat() async throws {
        let harness = try Self.harness()
        let merchant = MerchantClient()
        let today = ChinaTime.day(Date())
        try await harness.run { client in
            try await Self.payAndRefund(harness.sandbox)
            let outcome = try await merchant.call(BillDownloadURLQuery(billDate: today), client: client)
            guard case .success(let answer) = outcome, let url = answer.billDownloadURL else {
                Issue.record("bill query: \(outcome)")
                return
            }
            let path = try #require(URL(string: url)?.path)
            #expect(path == "/sandbox/bills/\(today)")
            let download = try await client.execute(uri: path, method: .get)
            #expect(download.status == .ok && download.headers[.contentType] == "application/zip")
            let files = try Self.entries(Data(download.body.readableBytesView))
            let compact = today.replacingOccurrences(of: "-", with: "")
            let detailName = "\(Fixtures.sellerId)_\(compact)_业务明细.csv"
            #expect(Set(files.keys) == [detailName, "\(Fixtures.sellerId)_\(compact)_业务明细(汇总).csv"], "\(files.keys)")
            let detail = try #require(files[detailName])

            // GBK, not UTF-8: the Chinese header decodes only as GBK.
            #expect(String(validating: detail, as: UTF8.self) == nil)
            let header = StatementFile.columns.joined(separator: ",")
            #expect(detail.count > 0 && StatementFile.columns.count == 25)
            let text = try #require(Charset.gbk.decode(detail))
            // CRLF everywhere, never a bare LF.
            #expect(!zip(detail.dropFirst(), detail).contains { $0 == 0x0A && $1 != 0x0D } && detail.first != 0x0A)
            let lines = text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
            #expect(lines.first == "#支付宝业务明细查询" && lines[1] == "#账号：[\(Fixtures.sellerId)]" && lines[2].hasPrefix("#起始日期："))
            #expect(lines[3].hasPrefix("#-") && lines[3].contains("业务明细列表") && lines[4] == header)
            let rows = lines.filter { !$0.hasPrefix("#") }.dropFirst()
            #expect(rows.count == 2, "\(rows)")
            let payment = try #require(rows.first { $0.contains(",交易,") })
            #expect(payment.contains(#""咖啡, ""大杯"" & 蛋糕""#), "the subject quoted, its quotes doubled: \(payment)")
            #expect(payment.contains("\tBILL1\t") || payment.contains(",BILL1\t,"), "long numbers end in a tab: \(payment)")
            #expect(payment.contains(",88.88,88.88,"))
            let refund = try #require(rows.first { $0.contains(",退款,") })
            #expect(refund.contains(",-10.00,-10.00,") && refund.contains("RQ1\t"), "\(refund)")
            #expect(lines.contains { $0.hasPrefix("#-") && $0.contains("业务明细列表结束") })
            #expect(lines.contains("#交易合计：1笔，退款合计：1笔") && lines.last?.hasPrefix("#导出时间：[") == true)

            // The summary: totals of the day.
            let summaryBytes = try #require(files["\(Fixtures.sellerId)_\(compact)_业务明细(汇总).csv"])
            let summary = try #require(Charset.gbk.decode(summaryBytes))
            #expect(summary.components(separatedBy: "\r\n").contains("合计,,1,1,88.88,78.88"), "\(summary)")

            // What the worker reads: AlipayKit's parser finds the payment and the refund.
            let parsed = try StatementArchive.statement(Data(download.body.readableBytesView))
            #expect(parsed.rows.map(\.amountFen) == [8888, -1000] && parsed.rows.map(\.outTradeNo) == ["BILL1", "BILL1"])
            #expect(parsed.rows.last?.refundRequestNo == "RQ1" && parsed.rows.first?.subject == Self.subject)
        }
    }

    @Test("today's statement is not there yet (isp.bill_not_exist), and only trade statements are made")
    func notYetAndWrongType() async throws {
        let harness = try SandboxHarness()  // bills of today not served, as at Alipay
        let merchant = MerchantClient()
        try await harness.run { client in
            let today = try await merchant.get(try merchant.parameters(BillDownloadURLQuery(billDate: ChinaTime.day(Date()))), client: client)
            #expect(String(buffer: today.body).contains("isp.bill_not_exist"), "\(String(buffer: today.body))")
            let signcustomer = try await merchant.get(
                try merchant.parameters(BillDownloadURLQuery(billDate: "2026-01-01", billType: "signcustomer")), client: client)
            #expect(String(buffer: signcustomer.body).contains("INVALID_PARAMETER"), "\(String(buffer: signcustomer.body))")
            // A malformed day never leaves AlipayKit; the control route refuses one too.
            #expect(throws: (any Error).self) { try merchant.parameters(BillDownloadURLQuery(billDate: "2026-1-1")) }
            let badDate = try await client.execute(uri: "/sandbox/bills/2026-1-1", method: .get)
            #expect(badDate.status == .badRequest && String(buffer: badDate.body).contains("yyyy-MM-dd"), "\(String(buffer: badDate.body))")
            // A past day with no trades: the list is empty, the file still well formed.
            let empty = try StatementArchive.statement(try await harness.sandbox.statement(day: "2026-01-01"))
            #expect(empty.rows.isEmpty && empty.preamble.first == "#支付宝业务明细查询")
        }
    }

    @Test("the statement fault plants one discrepancy: the first payment 0.01 more, nothing else changed")
    func plantedMismatch() async throws {
        let clean = try Self.harness()
        let faulty = try Self.harness(faults: "statement:1")
        let today = ChinaTime.day(Date())
        try await Self.payAndRefund(clean.sandbox)
        try await Self.payAndRefund(faulty.sandbox)
        let good = try StatementArchive.statement(try await clean.sandbox.statement(day: today)).rows
        let planted = try StatementArchive.statement(try await faulty.sandbox.statement(day: today)).rows
        #expect(good.map(\.amountFen) == [8888, -1000])
        #expect(planted.map(\.amountFen) == [8889, -1000])
    }
}
