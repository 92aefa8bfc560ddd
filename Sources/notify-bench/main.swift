import ArgumentParser

/// `notify-bench`: benchmarks of the store's real code in an optimized build, driven by `scripts/bench/queue` and
/// `scripts/bench/all`. A development tool: `scripts/install` does not install it.
struct NotifyBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify-bench",
        abstract: "Benchmarks of the alipay-notify store (release builds; see scripts/bench).",
        subcommands: [QueueCommand.self, WebhooksCommand.self]
    )
}

/// Runs the command through `AsyncParsableCommand.main()`: inside an `async` function the async overload is chosen,
/// while at top level Swift picks `ParsableCommand.main()`, which refuses to run an asynchronous command.
func runNotifyBench() async {
    await NotifyBenchCommand.main()
}

await runNotifyBench()
