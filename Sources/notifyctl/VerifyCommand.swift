import AlipayKit
import ArgumentParser
import Foundation
import NotifyCore

/// `notifyctl verify [--body STRING]`: checks one notification body the way the receiver would, and says why not.
struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify one notification body with the configured Alipay public key.",
        discussion: """
            Reads the body from --body or standard input (exactly as POSTed: application/x-www-form-urlencoded).
            Prints the string it verified and the verdict; exit 0 when valid, 1 when invalid, 2 on configuration errors.
            When invalid it looks for the usual causes: the app's own public key configured instead of Alipay's,
            a body decoded twice or '+' turned into a space, a sign_type downgrade, a foreign app_id.
            """
    )

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "The notification body; read from standard input when absent.")
    var body: String?

    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false

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

            var bytes: [UInt8]
            if let body {
                bytes = Array(body.utf8)
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
