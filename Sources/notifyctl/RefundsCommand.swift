import ArgumentParser
import Foundation
import NotifyCore
import NotifyStore

/// `notifyctl refunds create|list`: the same refund rules as `POST /api/orders/{n}/refunds`, straight on the database.
struct Refunds: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refunds", abstract: "Refund a paid order, and list an order's refunds.",
        subcommands: [RefundsCreate.self, RefundsList.self])
}

/// `notifyctl refunds create N --amount A`: records the refund; the worker asks Alipay for it.
struct RefundsCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Record a refund of a paid order (status pending); the worker asks Alipay (alipay.trade.refund).",
        discussion: """
            Exit 0 with the refund (the same out_request_no and amount again prints the earlier refund, never a \
            second one); 2 for a bad amount, reason or number, or more than is left to refund (the message says how \
            much is left); 1 when the order does not exist or cannot be refunded.
            """)

    @OptionGroup var options: ConfigOptions

    @Argument(help: "The order number (out_trade_no).")
    var outTradeNo: String

    @Option(name: .long, help: "Amount to give back in yuan, e.g. 10.00 (at most what is left to refund).")
    var amount: String

    @Option(name: .long, help: "Why (refund_reason, at most 256 characters).")
    var reason: String?

    @Option(name: .long, help: "The refund request's number (letters, digits, _; at most 64); generated when absent.")
    var outRequestNo: String?

    @Flag(name: .long, help: "Print the refund as JSON, as the API does.")
    var json = false

    func run() async throws {
        try await reporting {
            let settings = try await options.load()
            let request = CreateRefundRequest(refundAmount: amount, reason: reason, outRequestNo: outRequestNo)
            let outTradeNo = outTradeNo
            let result = try await withStore(settings) { store in
                do {
                    return try await RefundService(store: store).create(outTradeNo: outTradeNo, request)
                } catch {
                    throw RefundsFailure.from(error)
                }
            }
            if json {
                try printJSON(result.refund)
                return
            }
            let refund = result.refund
            let verb = result.created ? "recorded" : "already recorded"
            print("refund \(refund.outRequestNo) of order \(outTradeNo): \(refund.refundAmount) yuan, \(refund.status) (\(verb))")
            if refund.status == "pending" { print("the worker asks Alipay; `notifyctl orders show \(outTradeNo)` shows the outcome") }
        }
    }
}

/// `notifyctl refunds list N`: the order's refunds, oldest first.
struct RefundsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List an order's refunds (exit 1 when the order does not exist).")

    @OptionGroup var options: ConfigOptions

    @Argument(help: "The order number (out_trade_no).")
    var outTradeNo: String

    @Flag(name: .long, help: "Print a JSON array of refunds.")
    var json = false

    func run() async throws {
        try await reporting {
            let settings = try await options.load()
            let outTradeNo = outTradeNo
            let refunds = try await withStore(settings) { store in
                do {
                    return try await RefundService(store: store).list(outTradeNo: outTradeNo)
                } catch {
                    throw RefundsFailure.from(error)
                }
            }
            if json {
                try printJSON(refunds)
            } else {
                print(refundsTable(refunds))
            }
        }
    }
}

/// The refunds as a table, for `refunds list` and `orders show`.
func refundsTable(_ refunds: [RefundView]) -> String {
    renderTable(
        ["out_request_no", "amount", "status", "refunded_at", "reason / failure"],
        refunds.map { [$0.outRequestNo, $0.refundAmount, $0.status, $0.refundedAt ?? "-", $0.failure ?? $0.reason ?? ""] })
}

/// Maps refund errors onto the CLI's exit codes.
enum RefundsFailure {
    static func from(_ error: any Error) -> CLIFailure {
        switch error {
        case RefundServiceError.invalid, RefundServiceError.overRefund: .configuration("\(error)")
        case RefundServiceError.notFound, RefundServiceError.notRefundable, RefundServiceError.conflict: .no("\(error)")
        case let failure as CLIFailure: failure
        default: .failed("\(error)")
        }
    }
}
