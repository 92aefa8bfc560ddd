import Foundation

/// Alipay's daily trade statement (对账单, `bill_type` `trade`): the detail file (`…_业务明细.csv`) of the zip that
/// `alipay.data.dataservice.bill.downloadurl.query` points at, parsed.
///
/// The file is GBK text with CRLF lines. Lines starting with `#` are comments: the account, the period, the start
/// and end markers of the list, the totals and the export time. The first other line is the header; every later one
/// is a business event: `交易` (a payment) or `退款` (a refund, its amount negative and `退款批次号/请求号` set).
/// Fields holding a comma are quoted (`""` is a quote inside); values often end with a tab, Alipay's guard against
/// spreadsheets reformatting long numbers, which is dropped here. Columns are found by their header, so added or
/// reordered ones do not matter; amounts are yuan with two decimals, read exactly into fen.
public struct TradeStatement: Sendable, Equatable {
    /// The `#` lines before the list, as they are (account, period).
    public var preamble: [String]
    /// The `#` lines after the list (totals, export time).
    public var summary: [String]
    /// Every business row, in file order.
    public var rows: [StatementRow]

    /// A statement from its parts (tests, and sources that are not files).
    public init(preamble: [String], summary: [String], rows: [StatementRow]) {
        self.preamble = preamble
        self.summary = summary
        self.rows = rows
    }

    /// The header names this parser needs, and the prefixes it finds them by.
    static let required: [(field: String, prefix: String)] = [
        ("支付宝交易号", "支付宝交易号"), ("商户订单号", "商户订单号"), ("业务类型", "业务类型"), ("订单金额（元）", "订单金额"),
    ]

    /// Parses the detail file's bytes (GBK; UTF-8 is read too).
    public static func parse(_ bytes: [UInt8]) throws(StatementError) -> TradeStatement {
        let text: String
        if let decoded = Charset.gbk.decode(bytes) {
            text = decoded
        } else if let utf8 = String(validating: bytes, as: UTF8.self) {
            text = utf8
        } else {
            throw StatementError("the statement is neither GBK nor UTF-8 text")
        }
        return try parse(text: text)
    }

    /// Parses the detail file's text.
    public static func parse(text: String) throws(StatementError) -> TradeStatement {
        var statement = TradeStatement(preamble: [], summary: [], rows: [])
        var header: [String]?
        var columns: [String: Int] = [:]
        for record in try CSVRecords.read(text) {
            switch record {
            case .comment(let line, _):
                if header == nil { statement.preamble.append(line) } else { statement.summary.append(line) }
            case .fields(let fields, let line):
                if fields.allSatisfy(\.isEmpty) { continue }
                guard let known = header else {
                    header = fields
                    for (index, name) in fields.enumerated() where columns[name] == nil { columns[name] = index }
                    for (field, prefix) in required where Self.column(prefix, in: fields) == nil {
                        throw StatementError("the header has no \(field) column", line: line)
                    }
                    continue
                }
                guard statement.summary.isEmpty else {
                    throw StatementError("a business row after the list's end marker", line: line)
                }
                guard fields.count >= known.count else {
                    throw StatementError("\(fields.count) fields where the header has \(known.count)", line: line)
                }
                statement.rows.append(try row(fields, header: known, line: line))
            }
        }
        guard header != nil else { throw StatementError("no header line (is this a trade statement's detail file?)") }
        return statement
    }

    /// `text` in GBK, the statements' encoding; nil when a character has no GBK form.
    public static func gbkBytes(_ text: String) -> [UInt8]? {
        Charset.gbk.encode(text)
    }

    static func column(_ prefix: String, in header: [String]) -> Int? {
        header.firstIndex { $0.hasPrefix(prefix) }
    }

    static func row(_ fields: [String], header: [String], line: Int) throws(StatementError) -> StatementRow {
        func value(_ prefix: String) -> String? {
            column(prefix, in: header).map { fields[$0] }.flatMap { $0.isEmpty ? nil : $0 }
        }
        let tradeNo = value("支付宝交易号") ?? ""
        let outTradeNo = value("商户订单号") ?? ""
        guard !outTradeNo.isEmpty || !tradeNo.isEmpty else { throw StatementError("a row without 商户订单号 nor 支付宝交易号", line: line) }
        let amountText = value("订单金额") ?? ""
        guard let fen = Self.signedFen(amountText) else {
            throw StatementError("订单金额 \"\(amountText.prefix(40))\" is not an amount in yuan", line: line)
        }
        let type = value("业务类型") ?? ""
        let kind: StatementRow.Kind =
            switch type {
            case "交易": .payment
            case "退款": .refund
            default: .other(type)
            }
        return StatementRow(
            line: line, tradeNo: tradeNo, outTradeNo: outTradeNo, kind: kind, subject: value("商品名称"), createdAt: value("创建时间"),
            finishedAt: value("完成时间"), amountFen: fen, refundRequestNo: value("退款批次号"))
    }

    /// "12.34", "-12.34", "12.3", "12": exact fen, or nil.
    static func signedFen(_ text: String) -> Int64? {
        let negative = text.hasPrefix("-")
        guard let amount = try? Amount(negative ? String(text.dropFirst()) : text) else { return nil }
        return negative ? -amount.fen : amount.fen
    }
}

/// One business event of a statement.
public struct StatementRow: Sendable, Equatable {
    /// What the row records.
    public enum Kind: Sendable, Equatable {
        /// `交易`: a payment.
        case payment
        /// `退款`: a refund.
        case refund
        /// Any other `业务类型`, as written.
        case other(String)
    }

    /// The row's line in the file (1-based), for messages.
    public var line: Int
    /// `支付宝交易号`.
    public var tradeNo: String
    /// `商户订单号`.
    public var outTradeNo: String
    /// `业务类型`.
    public var kind: Kind
    /// `商品名称`.
    public var subject: String?
    /// `创建时间`, China time as written.
    public var createdAt: String?
    /// `完成时间`, China time as written.
    public var finishedAt: String?
    /// `订单金额（元）` in fen: positive for a payment, negative for a refund.
    public var amountFen: Int64
    /// `退款批次号/请求号`: the refund's `out_request_no`.
    public var refundRequestNo: String?

    /// A row from its parts.
    public init(
        line: Int, tradeNo: String, outTradeNo: String, kind: Kind, subject: String?, createdAt: String?, finishedAt: String?,
        amountFen: Int64, refundRequestNo: String?
    ) {
        self.line = line
        self.tradeNo = tradeNo
        self.outTradeNo = outTradeNo
        self.kind = kind
        self.subject = subject
        self.createdAt = createdAt
        self.finishedAt = finishedAt
        self.amountFen = amountFen
        self.refundRequestNo = refundRequestNo
    }
}

/// Why a statement could not be read.
public struct StatementError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What is wrong.
    public let message: String
    /// The line (1-based), when one is to blame.
    public let line: Int?

    /// A statement error.
    public init(_ message: String, line: Int? = nil) {
        self.message = message
        self.line = line
    }

    public var description: String { line.map { "statement line \($0): \(message)" } ?? "statement: \(message)" }
}

/// The records of a CSV text as Alipay writes its statements: `#` comment lines, commas, `"` quoting, CRLF or LF (or a
/// lone CR) line breaks; fields trimmed of the tabs and spaces around them.
enum CSVRecords {
    enum Record: Equatable {
        case comment(String, line: Int)
        case fields([String], line: Int)
    }

    static func read(_ text: String) throws(StatementError) -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field = ""
        var quoted = false  // inside quotes
        var wasQuoted = false  // the current field was quoted (its spaces and tabs inside are kept)
        var atRecordStart = true
        var line = 1
        var recordLine = 1
        var iterator = Array(text.unicodeScalars)[...]

        func finishField() {
            fields.append(wasQuoted ? field : field.trimmingCharacters(in: .whitespaces))
            field = ""
            wasQuoted = false
        }
        func finishRecord() {
            finishField()
            records.append(.fields(fields, line: recordLine))
            fields = []
            atRecordStart = true
        }

        while let scalar = iterator.popFirst() {
            if atRecordStart {
                recordLine = line
                if scalar == "#" {
                    var comment = "#"
                    while let next = iterator.first, next != "\n", next != "\r" {
                        comment.unicodeScalars.append(next)
                        iterator.removeFirst()
                    }
                    records.append(.comment(comment.trimmingCharacters(in: .whitespaces), line: line))
                    continue
                }
                if scalar == "\r" || scalar == "\n" {
                    // A line break: "\r\n", "\n" or a lone "\r", each one line.
                    if scalar == "\r", iterator.first == "\n" { iterator.removeFirst() }
                    line += 1
                    continue
                }
                atRecordStart = false
            }
            if quoted {
                if scalar == "\"" {
                    if iterator.first == "\"" {
                        iterator.removeFirst()
                        field.unicodeScalars.append("\"")
                    } else {
                        quoted = false
                    }
                } else {
                    if scalar == "\n" || (scalar == "\r" && iterator.first != "\n") { line += 1 }
                    field.unicodeScalars.append(scalar)
                }
                continue
            }
            switch scalar {
            case ",":
                finishField()
            case "\"" where field.trimmingCharacters(in: .whitespaces).isEmpty && !wasQuoted:
                field = ""
                quoted = true
                wasQuoted = true
            case "\r":
                if iterator.first == "\n" { iterator.removeFirst() }
                line += 1
                finishRecord()
            case "\n":
                line += 1
                finishRecord()
            default:
                // After a closing quote only the tab Alipay appends (and spaces) may follow.
                if wasQuoted && !quoted && scalar != "\t" && scalar != " " {
                    throw StatementError("text after a closing quote", line: line)
                }
                if !wasQuoted { field.unicodeScalars.append(scalar) }
            }
        }
        if quoted { throw StatementError("a quoted field is not closed", line: recordLine) }
        if !atRecordStart { finishRecord() }
        return records
    }
}
