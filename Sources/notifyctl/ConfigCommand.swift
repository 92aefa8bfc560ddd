import ArgumentParser
import Foundation
import NotifyCore

/// `notifyctl config show`: the configuration exactly as the daemons would resolve it here (environment, then
/// `--config`, then defaults), with secrets redacted — the first thing to run when a command seems to read the
/// wrong database.
struct Config: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Show the resolved configuration.", subcommands: [Show.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the configuration as resolved (store, keys, listeners, worker), secrets redacted.")
        @OptionGroup var options: ConfigOptions

        @Flag(name: .long, help: "Print a JSON object keyed by configuration key.")
        var json = false

        func run() async throws {
            try await reporting {
                let settings = try await options.load()
                let entries = Self.entries(settings)
                if json {
                    try printJSON(Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first }))
                } else {
                    print(renderTable(["key", "value"], entries.map { [$0.key, $0.value] }))
                    print("(working directory \(FileManager.default.currentDirectoryPath))")
                }
            }
        }

        /// Key and shown value, in the README's order. The store URL never shows its password; the API token only
        /// whether it is set; key files are paths (their contents never leave the file).
        static func entries(_ settings: NotifyConfiguration) -> [(key: String, value: String)] {
            let unset = "(unset)"
            var store = settings.storeURL.redacted
            if case .sqlite(let path) = settings.storeURL {
                let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
                store += FileManager.default.fileExists(atPath: absolute) ? " (\(absolute))" : " (\(absolute), does not exist)"
            }
            return [
                ("store.url", store),
                ("store.cacheMegabytes", settings.storeCacheMegabytes.map { "\($0)" }
                    ?? "unset: \(NotifyConfiguration.StoreDaemon.receiver.defaultCacheMegabytes) (receiver), \(NotifyConfiguration.StoreDaemon.worker.defaultCacheMegabytes) (worker)"),
                ("alipay.appId", settings.alipay.appId ?? unset),
                ("alipay.gatewayUrl", settings.alipay.gatewayURL),
                ("alipay.signType", settings.alipay.signType.rawValue),
                ("alipay.appPrivateKeyFile", settings.alipay.appPrivateKeyFile ?? unset),
                ("alipay.publicKeyFile", settings.alipay.publicKeyFile ?? unset),
                ("alipay.appCertFile", settings.alipay.appCertFile ?? unset),
                ("alipay.certFile", settings.alipay.certFile ?? unset),
                ("alipay.rootCertFile", settings.alipay.rootCertFile ?? unset),
                ("alipay.encryptKeyFile", settings.alipay.encryptKeyFile ?? unset),
                ("alipay.sellerId", settings.alipay.sellerId ?? unset),
                ("alipay.notifyUrl", settings.alipay.notifyURL ?? unset),
                ("alipay.returnUrl", settings.alipay.returnURL ?? unset),
                ("alipay.timeoutSeconds", "\(settings.alipay.timeoutSeconds)"),
                ("receiver.host", settings.receiver.host),
                ("receiver.port", "\(settings.receiver.port)"),
                ("api.host", settings.api.host),
                ("api.port", "\(settings.api.port)"),
                ("api.token", settings.apiToken == nil ? unset : "(set, redacted)"),
                ("worker.concurrency", "\(settings.worker.concurrency)"),
                ("worker.maxAttempts", "\(settings.worker.maxAttempts)"),
                ("worker.leaseSeconds", "\(settings.worker.leaseSeconds)"),
                ("worker.pollMilliseconds", "\(settings.worker.pollMilliseconds)"),
                ("worker.reconcileAfterSeconds", "\(settings.worker.reconcileAfterSeconds)"),
                ("worker.reconcilePaidAfterSeconds", "\(settings.worker.reconcilePaidAfterSeconds)"),
                ("worker.reconcilePaidForHours", "\(settings.worker.reconcilePaidForHours)"),
                ("worker.confirmWithQuery", "\(settings.worker.confirmWithQuery)"),
                ("orders.timeoutMinutes", "\(settings.ordersTimeoutMinutes)"),
                ("statements.enabled", "\(settings.statements.enabled)"),
                ("statements.timeOfDay", settings.statements.timeOfDay),
                ("log.level", settings.logLevel),
                ("log.format", settings.logFormat),
            ]
        }
    }
}
