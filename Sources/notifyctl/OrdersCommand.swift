import AlipayKit
import ArgumentParser
import Foundation
import NotifyCore
import NotifyStore

/// `notifyctl orders create|show|list`: the same order rules as `POST /api/orders`, straight on the database.
struct Orders: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orders", abstract: "Create, show and list orders.",
        subcommands: [OrdersCreate.self, OrdersShow.self, OrdersList.self, OrdersPayURL.self])
}

/// `notifyctl orders create`: stores an order and prints the signed pay URL.
struct OrdersCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create an order (status WAIT_BUYER_PAY) and print what the buyer pays with.",
        discussion: """
            Prints the signed alipay.trade.page.pay URL (--product page, the default) or alipay.trade.wap.pay URL (wap), \
            the QR code text Alipay's alipay.trade.precreate answers (qr: this asks Alipay, so it needs the gateway), or \
            the signed alipay.trade.app.pay order string for Alipay's app SDK (app).
            """)

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "Amount in yuan as Alipay writes it, e.g. 88.88 (0.01 to 100000000.00).")
    var totalAmount: String

    @Option(name: .long, help: "What the buyer pays for (at most 256 characters).")
    var subject: String

    @Option(name: .long, help: "Order number (letters, digits, _; at most 64); generated when absent.")
    var outTradeNo: String?

    @Option(name: .long, help: "How the buyer pays: page (PC, the default), wap (mobile browser), qr (a QR code), app.")
    var product: String?

    @Option(name: .long, help: "wap only: where the buyer lands on leaving the cashier (default alipay.returnUrl).")
    var quitUrl: String?

    @Flag(name: .long, help: "Print the API's answer: out_trade_no, status, total_amount, product, pay_url, pay_form, qr_code, order_string.")
    var json = false

    func run() async throws {
        try await reporting {
            let settings = try await options.load()
            let request = CreateOrderRequest(outTradeNo: outTradeNo, totalAmount: totalAmount, subject: subject, product: product, quitURL: quitUrl)
            let created = try await withOrderService(settings, creating: true) { service in try await service.create(request) }
            if json {
                try printJSON(created)
            } else {
                print("order \(created.outTradeNo): \(created.totalAmount) yuan, \(created.status), \(created.product)")
                print(paymentLine(created))
            }
        }
    }
}

/// `notifyctl orders show N`: one order; exit 1 when it does not exist.
struct OrdersShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one order (exit 1 when not found).")

    @OptionGroup var options: ConfigOptions

    @Argument(help: "The order number (out_trade_no).")
    var outTradeNo: String

    @Flag(name: .long, help: "Print the order as JSON.")
    var json = false

    func run() async throws {
        try await reporting {
            let settings = try await options.load()
            let outTradeNo = outTradeNo
            let (order, events, refunds): (Order?, [OrderEvent], [Refund]) = try await withStore(settings) { store in
                do {
                    return try await store.read { db in (try db.order(outTradeNo), try db.orderEvents(outTradeNo), try db.refunds(outTradeNo)) }
                } catch {
                    throw CLIFailure.failed("cannot read order \(outTradeNo): \(error)")
                }
            }
            guard let order else { throw CLIFailure.no("no order with out_trade_no \(outTradeNo)") }
            let view = OrderView(order, refunds: refunds)
            if json {
                try printJSON(view)
                return
            }
            var rows: [[String]] = [
                ["out_trade_no", view.outTradeNo], ["status", "\(view.status) (\(OrderStatus.words(view.status)))"],
                ["total_amount", view.totalAmount], ["subject", view.subject], ["product", view.product], ["trade_no", view.tradeNo ?? "-"],
                ["refunded_amount", view.refundedAmount], ["needs_review", view.needsReview ? "yes" : "no"],
            ]
            if let reason = view.reviewReason { rows.append(["review_reason", reason]) }
            rows += [
                ["created_at", view.createdAt], ["updated_at", view.updatedAt], ["paid_at", view.paidAt ?? "-"],
                ["closed_at", view.closedAt ?? "-"],
                ["refunded_at", view.refundedAt ?? "-"],
            ]
            print(renderTable(["field", "value"], rows))
            if let refunds = view.refunds, !refunds.isEmpty {
                print("")
                print(refundsTable(refunds))
            }
            if !events.isEmpty {
                print("")
                print(
                    renderTable(
                        ["at", "from", "to", "source", "notify_id", "detail"],
                        events.map {
                            [
                                OrderView.timestamp($0.createdAt), $0.fromStatus?.rawValue ?? "-", $0.toStatus.rawValue, $0.source,
                                $0.notifyId ?? "-",
                                $0.detail ?? "",
                            ]
                        }))
            }
        }
    }
}

/// `notifyctl orders list`: newest orders first.
struct OrdersList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List orders, newest first.")

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "Only orders with this status (CREATED, WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_FINISHED, TRADE_CLOSED).")
    var status: String?

    @Option(name: .long, help: "At most this many orders.")
    var limit = 100

    @Flag(name: .long, help: "Print a JSON array of orders.")
    var json = false

    func run() async throws {
        try await reporting {
            let known = OrderStatus.allCases.map(\.rawValue)
            let wanted = status.flatMap(OrderStatus.init(rawValue:))
            if status != nil, wanted == nil {
                throw CLIFailure.configuration("--status must be one of \(known.joined(separator: ", "))")
            }
            guard limit > 0 else { throw CLIFailure.configuration("--limit must be at least 1") }
            let settings = try await options.load()
            let limit = limit
            let orders: [Order] = try await withStore(settings) { store in
                do {
                    return try await store.read { db in try db.orders(status: wanted, limit: limit) }
                } catch {
                    throw CLIFailure.failed("cannot list orders: \(error)")
                }
            }
            let views = orders.map { OrderView($0) }
            if json {
                try printJSON(views)
                return
            }
            print(
                renderTable(
                    ["out_trade_no", "status", "amount", "trade_no", "review", "created_at", "subject"],
                    views.map {
                        [
                            $0.outTradeNo, $0.status, $0.totalAmount, $0.tradeNo ?? "-", $0.needsReview ? "REVIEW" : "",
                            $0.createdAt, $0.subject,
                        ]
                    }))
        }
    }
}

/// `notifyctl orders pay-url N`: a fresh signed pay URL for an unpaid order (exit 1 when unknown or already paid).
struct OrdersPayURL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pay-url",
        abstract: "Print a fresh pay URL (QR code, app order string) for an unpaid order (exit 1 when not found or not payable).")

    @OptionGroup var options: ConfigOptions

    @Argument(help: "The order number (out_trade_no).")
    var outTradeNo: String

    @Flag(name: .long, help: "Print the API's answer: out_trade_no, status, total_amount, product, pay_url, pay_form, qr_code, order_string.")
    var json = false

    func run() async throws {
        try await reporting {
            let settings = try await options.load()
            let outTradeNo = outTradeNo
            let signed = try await withOrderService(settings) { service in try await service.payURL(for: outTradeNo) }
            if json {
                try printJSON(signed)
            } else {
                print(paymentLine(signed))
            }
        }
    }
}

/// What the buyer pays with, on one line: the pay URL, the QR code text or the app order string.
func paymentLine(_ order: CreatedOrder) -> String {
    order.payURL ?? order.qrCode ?? order.orderString ?? ""
}

/// Runs `body` with the order service `POST /api/orders` uses (its signer needs the app key), its errors mapped onto
/// the CLI's exit codes.
func withOrderService<T>(
    _ settings: NotifyConfiguration, creating: Bool = false, _ body: (OrderService) async throws -> T
) async throws -> T {
    let alipay: AlipayConfiguration
    do {
        alipay = try settings.alipayConfiguration()
    } catch {
        throw CLIFailure.configuration("\(error)")
    }
    return try await withStore(settings, creating: creating) { store in
        let service = OrderService(
            store: store, signer: RequestSigner(configuration: alipay), timeoutMinutes: settings.ordersTimeoutMinutes,
            precreate: AlipayClient(configuration: alipay, readTimeout: settings.alipay.timeout))
        do {
            return try await body(service)
        } catch {
            throw OrdersFailure.from(error)
        }
    }
}

/// Maps order errors onto the CLI's exit codes.
enum OrdersFailure {
    static func from(_ error: any Error) -> CLIFailure {
        switch error {
        case OrderServiceError.invalid(let message): .configuration(message)
        case OrderServiceError.notFound, OrderServiceError.notPayable, OrderServiceError.refusedByAlipay: .no("\(error)")
        default: .failed("\(error)")
        }
    }
}
