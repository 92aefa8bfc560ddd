import AlipayKit
import ArgumentParser
import Foundation
import NotifyCore
import NotifyStore

/// One refused body as `verify --list-rejected --json` prints it (the body is left out of the list).
struct RejectedRow: Encodable {
    var id: Int64
    var receivedAt: String
    var reason: String
    var detail: String

    init(_ row: RejectedNotification) {
        id = row.id ?? 0
        receivedAt = OrderView.timestamp(row.receivedAt)
        reason = row.reason
        detail = row.detail
    }

    enum CodingKeys: String, CodingKey {
        case id, reason, detail
        case receivedAt = "received_at"
    }
}

/// `notifyctl verify [--body STRING | --rejected ID | --list-rejected]`: checks one notification body the way the
/// receiver would, and says why not.
struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify one notification body with the configured Alipay public key.",
        discussion: """
            Reads the body from --body, from a body the receiver refused (--rejected ID; --list-rejected lists the
            newest the receiver kept), or standard input (exactly as POSTed: application/x-www-form-urlencoded).
            Prints the string it verified and the verdict; exit 0 when valid, 1 when invalid, 2 on configuration errors.
            When invalid it looks for the usual causes: the app's own public key configured instead of Alipay's,
            a body decoded twice or '+' turned into a space, a sign_type downgrade, a foreign app_id.
            """
    )

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "The notification body; read from standard input when absent.")
    var body: String?

    @Option(name: .long, help: "Verify a body the receiver refused and kept (an id from --list-rejected).")
    var rejected: Int64?

    @Flag(name: .long, help: "List the refused bodies the receiver kept (newest first) instead of verifying.")
    var listRejected = false

    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        let sources = [body != nil, rejected != nil, listRejected].filter { $0 }.count
        guard sources <= 1 else { throw ValidationError("give at most one of --body, --rejected and --list-rejected") }
    }

    /// The JSON shape of `notifyctl verify --json`.
    struct Report: Encodable {
        var verdict: String
        var signString: String
        var charset: String
        var signType: String?
        var error: String?
        var outTradeNo: String?
        var notifyId: String?
        var tradeStatus: String?
        var totalAmount: String?
        var diagnosis: [NotificationDiagnosis]

        enum CodingKeys: String, CodingKey {
            case verdict, charset, error, diagnosis
            case signString = "sign_string", signType = "sign_type", outTradeNo = "out_trade_no"
            case notifyId = "notify_id", tradeStatus = "trade_status", totalAmount = "total_amount"
        }
    }

    func run() async throws {
        try await reporting {
            let configuration = try await options.load()
            let verifier: NotificationVerifier
            do {
                verifier = try configuration.notificationVerifier()
            } catch {
                throw CLIFailure.configuration("\(error)")
            }
            // The app's own public key lets the diagnosis recognise the most common mistake; it is optional here.
            let appPublicKey = try? configuration.loadAppPrivateKey().publicKey

            if listRejected {
                let rows = try await withStore(configuration) { store in try await store.read { db in try db.rejectedNotifications(limit: 100) } }
                if json {
                    try printJSON(rows.map { RejectedRow($0) })
                } else {
                    print(
                        renderTable(
                            ["id", "received_at", "reason", "detail"],
                            rows.map { ["\($0.id ?? 0)", OrderView.timestamp($0.receivedAt), $0.reason, String($0.detail.prefix(80))] }))
                }
                return
            }
            var bytes: [UInt8]
            if let body {
                bytes = Array(body.utf8)
            } else if let rejected {
                let row = try await withStore(configuration) { store in try await store.read { db in try db.rejectedNotification(id: rejected) } }
                guard let row else { throw CLIFailure.no("no refused body with id \(rejected) (notifyctl verify --list-rejected)") }
                if !json { print("refused body \(rejected), received \(OrderView.timestamp(row.receivedAt)): \(row.reason) (\(row.detail))\n") }
                bytes = Array(row.body.utf8)
            } else {
                bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
            }
            // A trailing newline from `echo` or a file is not part of what Alipay sent.
            while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { bytes.removeLast() }
            guard !bytes.isEmpty else { throw CLIFailure.configuration("no body: pass --body STRING or pipe it on standard input") }

            let inspection = verifier.inspect(body: bytes, appPublicKey: appPublicKey)
            let report = Report(
                verdict: inspection.verdict, signString: inspection.signString, charset: inspection.charset,
                signType: inspection.signType, error: inspection.error?.description,
                outTradeNo: inspection.notification?.outTradeNo, notifyId: inspection.notification?.notifyId,
                tradeStatus: inspection.notification?.tradeStatus.rawValue,
                totalAmount: inspection.notification?.totalAmount.description, diagnosis: inspection.diagnosis)
            if json {
                try printJSON(report)
            } else {
                print("string verified (\(inspection.charset)):")
                print(inspection.signString)
                print("")
                print("verdict: \(inspection.verdict)" + (inspection.error.map { " (\($0))" } ?? ""))
                if let notification = inspection.notification {
                    print("notification: \(notification.notifyId) for order \(notification.outTradeNo), "
                        + "\(notification.tradeStatus.rawValue), \(notification.totalAmount.description) yuan")
                }
                for finding in inspection.diagnosis {
                    print("  - \(finding.message)")
                }
            }
            if !inspection.isValid { throw ExitCode(1) }
        }
    }
}
