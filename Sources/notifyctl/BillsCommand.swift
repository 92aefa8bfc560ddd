import AlipayKit
import ArgumentParser
import Foundation
import NotifyCore
import NotifyStore

/// `notifyctl bills reconcile|show`: the daily Alipay statement compared with the database (docs/statements.md).
struct Bills: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bills", abstract: "Check Alipay's daily trade statement against the database, and show past checks.",
        subcommands: [BillsReconcile.self, BillsShow.self])
}

/// `notifyctl bills reconcile --date D`: downloads the day's statement now, compares, stores and prints the result.
struct BillsReconcile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Download the day's trade statement from Alipay, compare it with the database and store the result.",
        discussion: "Exit 0 when the books agree, 1 when there are differences (each printed), 2 for a bad date or configuration.")

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "The day, yyyy-MM-dd (China time); yesterday at the latest. Default: yesterday.")
    var date: String?

    @Flag(name: .long, help: "Print the check as JSON.")
    var json = false

    func run() async throws {
        try await reporting {
            let settings = try await options.load()
            let day = date ?? StatementReconciler.yesterday(now: Date())
            guard StatementReconciler.range(ofDay: day) != nil else { throw CLIFailure.configuration("--date must be yyyy-MM-dd, got \(day)") }
            let alipay: AlipayConfiguration
            do {
                alipay = try settings.alipayConfiguration()
            } catch {
                throw CLIFailure.configuration("\(error)")
            }
            let check = try await withStore(settings) { store in
                let client = AlipayClient(configuration: alipay, readTimeout: settings.alipay.timeout)
                do {
                    return try await StatementReconciler(store: store, source: AlipayStatementSource(client: client)).reconcile(billDate: day)
                } catch let failure as JobFailure {
                    switch failure {
                    case .retryable:
                        throw CLIFailure.failed("cannot check the statement of \(day) now: \(failure); retry later (the worker's daily job does)")
                    case .permanent:
                        throw CLIFailure.failed("cannot check the statement of \(day): \(failure)")
                    }
                }
            }
            try printCheck(check, json: json)
            if !check.differences.isEmpty { throw ExitCode(1) }
        }
    }
}

/// `notifyctl bills show --date D`: a stored check.
struct BillsShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show the stored check of a day (exit 1 when it found differences or there is none).")

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "The day, yyyy-MM-dd (China time). Default: the latest checked.")
    var date: String?

    @Flag(name: .long, help: "Print the check as JSON.")
    var json = false

    func run() async throws {
        try await reporting {
            let settings = try await options.load()
            let day = date
            if let day, StatementReconciler.range(ofDay: day) == nil { throw CLIFailure.configuration("--date must be yyyy-MM-dd, got \(day)") }
            let check: StatementCheck? = try await withStore(settings) { store in
                do {
                    return try await store.read { db in
                        if let day { try db.statementCheck(billDate: day) } else { try db.statementChecks(limit: 1).first }
                    }
                } catch {
                    throw CLIFailure.failed("cannot read the statement checks: \(error)")
                }
            }
            guard let check else { throw CLIFailure.no("no statement check \(day.map { "for \($0)" } ?? "yet"): `notifyctl bills reconcile --date DAY`") }
            try printCheck(check, json: json)
            if !check.differences.isEmpty { throw ExitCode(1) }
        }
    }
}

/// A check for people (a line, then a table of differences) or as JSON.
func printCheck(_ check: StatementCheck, json: Bool) throws {
    if json {
        try printJSON(check)
        return
    }
    let verdict = check.differences.isEmpty ? "no differences" : "\(check.differences.count) differences"
    print("statement \(check.billDate): \(check.rows) rows, \(verdict) (checked \(OrderView.timestamp(check.checkedAt)))")
    if !check.differences.isEmpty {
        print(renderTable(["kind", "out_trade_no", "detail"], check.differences.map { [$0.kind.rawValue, $0.outTradeNo, $0.detail] }))
    }
}
