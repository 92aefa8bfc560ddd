import ArgumentParser
import Foundation

/// `notifyctl`: the operator's command line (CLI contract in docs/architecture.md).
///
/// Exit codes: 0 success, 1 when the answer is "no" (invalid signature, not found), 2 on usage or
/// configuration errors. Tables for people, `--json` for scripts.
@main
struct NotifyCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifyctl",
        abstract: "Operate alipay-notify: keys, orders, refunds, the queue, reconciliation, signature checks, the database.",
        subcommands: [Keys.self, Orders.self, Refunds.self, Bills.self, Queue.self, Reconcile.self, Verify.self, Certs.self, Endpoints.self, Events.self, DB.self, Config.self]
    )

    /// Parses and runs like ArgumentParser's own `main()`, except that usage errors exit 2 (the CLI contract)
    /// instead of ArgumentParser's 64.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
