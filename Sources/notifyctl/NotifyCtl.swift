import ArgumentParser

/// `notifyctl`: the operator's command line (CLI contract in DESIGN.md).
///
/// Exit codes: 0 success, 1 when the answer is "no" (invalid signature, not found), 2 on usage or
/// configuration errors. Tables for people, `--json` for scripts.
@main
struct NotifyCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifyctl",
        abstract: "Operate alipay-notify: keys, orders, the queue, reconciliation, signature checks, the database.",
        subcommands: [Keys.self, Orders.self, Queue.self, Reconcile.self, Verify.self, DB.self]
    )
}
