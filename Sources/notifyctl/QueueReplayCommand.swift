import ArgumentParser
import Foundation
import NotifyCore
import NotifyStore

/// `notifyctl queue replay`: puts dead or done jobs back to pending, attempts reset, their history kept.
///
/// Replay is safe on a job whose change was already applied: the worker re-verifies the notification and the
/// state machine sees a repeated status, so the order does not change and no event is added.
struct QueueReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Put dead or done jobs back to pending (attempts reset, history kept).",
        discussion: """
            Select jobs with --id (one or more), --dead (every dead job) or --out-trade-no (every dead or done job \
            of one order). Replaying a job that was already applied changes nothing. --dry-run lists what would be replayed.
            """)

    @OptionGroup var options: ConfigOptions

    @Option(name: .customLong("id"), parsing: .upToNextOption, help: "Job ids to replay (dead or done).")
    var ids: [Int64] = []

    @Flag(name: .long, help: "Replay every dead job.")
    var dead = false

    @Option(name: .customLong("out-trade-no"), help: "Replay every dead or done job of this order.")
    var outTradeNo: String?

    @Flag(name: .customLong("dry-run"), help: "Only list the jobs that would be replayed.")
    var dryRun = false

    @Flag(name: .long, help: "Print [{\"id\",\"kind\",\"state\",\"attempts\",\"out_trade_no\",\"notify_id\",\"last_error\"}].")
    var json = false

    func validate() throws {
        let chosen = (ids.isEmpty ? 0 : 1) + (dead ? 1 : 0) + (outTradeNo == nil ? 0 : 1)
        guard chosen == 1 else {
            throw ValidationError("choose exactly one of --id N ..., --dead, --out-trade-no N")
        }
    }

    var selection: ReplaySelection {
        if !ids.isEmpty { return .ids(ids) }
        if let outTradeNo { return .outTradeNo(outTradeNo) }
        return .dead
    }

    func run() async throws {
        try await reporting {
            let settings = try await options.load()
            let (selection, dryRun) = (selection, dryRun)
            let jobs: [Job] = try await withStore(settings) { store in
                do {
                    return try await store.replay(selection, dryRun: dryRun)
                } catch {
                    throw CLIFailure.failed("cannot replay: \(error)")
                }
            }
            let rows = jobs.map(JobRow.init)
            if json {
                try printJSON(rows)
            } else if !rows.isEmpty {
                print(JobRow.table(rows))
            }
            if !json {
                let verb = dryRun ? "would replay" : "replayed"
                print("\(verb) \(rows.count) job\(rows.count == 1 ? "" : "s")")
            }
            if !ids.isEmpty {
                let replayed = Set(jobs.compactMap(\.id))
                let missed = ids.filter { !replayed.contains($0) }
                if !missed.isEmpty {
                    let list = missed.map(String.init).joined(separator: ", ")
                    throw CLIFailure.no("not replayed (no such job, or still pending/running): \(list)")
                }
            }
        }
    }
}
