import AlipayKit
import Foundation
import FuzzSupport

// Input: the bytes of a statement's detail file (GBK or UTF-8 CSV). The zip around it is ZIPFoundation's to read and
// is not fuzzed here: on a malformed zip its in-memory archive leaks the input's bytes (LeakSanitizer, Fuzz/README.md).
//
// Properties:
// - TradeStatement.parse never crashes and never hangs: it returns a statement or a StatementError.
// - A parsed statement's rows come after its header, each with an order or trade number and an amount; a payment's
//   amount is what `Amount` reads from the field, a refund's the negative of it; a row's line is within the file.
// - Written back as a CSV (every field quoted, comments kept) and parsed again, it gives the same rows: what the
//   parser reads is what the file says, not an accident of its quoting or tab trimming.

/// Runs libFuzzer with ``fuzz(_:_:)`` as the target.
@main
enum FuzzStatementMain {
    static func main() { FuzzDriver.run(fuzz) }
}

/// One libFuzzer input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = FuzzDriver.bytes(data, size)
    guard let statement = try? TradeStatement.parse(bytes) else { return 0 }
    // Line breaks as the parser counts them: CRLF, LF, or a lone CR.
    var lines = 1
    for (index, byte) in bytes.enumerated() where byte == 0x0A || (byte == 0x0D && (index + 1 == bytes.count || bytes[index + 1] != 0x0A)) {
        lines += 1
    }
    for row in statement.rows {
        Property.require(!row.outTradeNo.isEmpty || !row.tradeNo.isEmpty, "a row without numbers: \(row)")
        Property.require(row.line >= 1 && row.line <= lines, "row line \(row.line) outside 1…\(lines)")
    }
    // Round trip through a canonical CSV: every field quoted, the columns this parser reads.
    var text = statement.preamble.joined(separator: "\n") + (statement.preamble.isEmpty ? "" : "\n")
    text += "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,订单金额（元）,退款批次号/请求号\n"
    for row in statement.rows {
        let type: String =
            switch row.kind {
            case .payment: "交易"
            case .refund: "退款"
            case .other(let name): name
            }
        let amount = (row.amountFen < 0 ? "-" : "") + Amount(fen: row.amountFen.magnitude > UInt64(Int64.max) ? 0 : abs(row.amountFen)).description
        let fields = [row.tradeNo, row.outTradeNo, type, row.subject ?? "", row.createdAt ?? "", row.finishedAt ?? "", amount, row.refundRequestNo ?? ""]
        text += fields.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: ",") + "\n"
    }
    guard let again = try? TradeStatement.parse(text: text) else {
        Property.require(false, "the canonical CSV of a parsed statement does not parse:\n\(text)")
        return 0
    }
    Property.require(again.rows.count == statement.rows.count, "\(again.rows.count) rows after the round trip, \(statement.rows.count) before")
    for (a, b) in zip(again.rows, statement.rows) {
        Property.require(
            a.tradeNo == b.tradeNo && a.outTradeNo == b.outTradeNo && a.kind == b.kind && a.amountFen == b.amountFen
                && a.refundRequestNo == b.refundRequestNo && a.subject == b.subject,
            "a row changed in the round trip: \(b) became \(a)")
    }
    return 0
}
