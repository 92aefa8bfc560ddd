import AlipayKit
import ArgumentParser
import Foundation
import NotifyCore
import NotifyStore

/// `notifyctl reconcile N`: asks Alipay (`alipay.trade.query`) about one order now and applies the verified answer
/// with the worker's rules, then prints what changed. Exit 1 when the order is unknown or Alipay gave no verified answer.
struct Reconcile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Query Alipay for an order now and apply the answer with the worker's rules.")

    @OptionGroup var options: ConfigOptions

    @Argument(help: "The order's out_trade_no.")
    var outTradeNo: String

    @Flag(name: .long, help: "Print {\"out_trade_no\",\"changed\",\"before\",\"after\",\"result\",\"detail\",\"alipay\",\"order\"}.")
    var json = false

    func run() async throws {
        try await reporting {
            let settings = try await options.load()
            let outTradeNo = outTradeNo
            let report: ReconcileReport = try await withStore(settings) { store in
                let runtime: WorkerRuntime
                do throws(ConfigurationError) {
                    runtime = try WorkerRuntime(configuration: settings, store: store)
                } catch {
                    throw CLIFailure.configuration(error.description)
                }
                do {
                    return try await runtime.reconciler.reconcileNow(outTradeNo: outTradeNo)
                } catch ReconcileError.unknownOrder(let outTradeNo) {
                    throw CLIFailure.no("no order \(outTradeNo)")
                } catch ReconcileError.gateway(let failure) {
                    throw CLIFailure.failed("Alipay gave no usable answer: \(failure)")
                } catch {
                    throw CLIFailure.failed("cannot reconcile \(outTradeNo): \(error)")
                }
            }
            let output = ReconcileOutput(report)
            if json {
                try printJSON(output)
                return
            }
            switch report.result {
            case .applied(let transition, _, let earlier):
                for move in earlier + [transition] { print("\(outTradeNo): \(move.from) → \(move.to) (\(move.detail))") }
            case .unchanged(let status, let reason):
                print("\(outTradeNo): unchanged, \(status) (\(reason))")
            case .review(let reason, let detail):
                print("\(outTradeNo): NOT changed, flagged for review: \(reason.rawValue): \(detail)")
                print("what to do: \(reason.operatorHint)")
            }
            print("Alipay said: \(report.alipay)")
        }
    }
}

/// `notifyctl reconcile --json`.
struct ReconcileOutput: Encodable {
    var outTradeNo: String
    var changed: Bool
    var before: String
    var after: String
    var result: String
    var detail: String
    var alipay: String
    var order: OrderView

    init(_ report: ReconcileReport) {
        outTradeNo = report.outTradeNo
        before = report.before.status.rawValue
        after = report.after.status.rawValue
        alipay = report.alipay
        order = OrderView(report.after)
        switch report.result {
        case .applied(let transition, _, _):
            changed = true
            result = "applied"
            detail = transition.detail
        case .unchanged(_, let reason):
            changed = false
            result = "unchanged"
            detail = reason
        case .review(let reason, let text):
            changed = false
            result = "review"
            detail = "\(reason.rawValue): \(text)"
        }
    }

    enum CodingKeys: String, CodingKey {
        case outTradeNo = "out_trade_no", changed, before, after, result, detail, alipay, order
    }
}
