import ArgumentParser
import Foundation
import NotifyCore
import NotifyStore

/// `notifyctl queue stats|list|replay`: look into the durable job queue.
struct Queue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue", abstract: "Inspect and replay the job queue.",
        subcommands: [QueueStatsCommand.self, QueueList.self, QueueReplay.self])
}

/// `notifyctl queue stats`: jobs per state.
struct QueueStatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Count jobs per state.")

    @OptionGroup var options: ConfigOptions

    @Flag(name: .long, help: "Print {\"pending\":n,\"running\":n,\"done\":n,\"dead\":n}.")
    var json = false

    func run() async throws {
        try await reporting {
            let settings = try await options.load()
            let stats: QueueStats = try await withStore(settings) { store in
                do {
                    return try await store.queueStats()
                } catch {
                    throw CLIFailure.failed("cannot read the queue: \(error)")
                }
            }
            if json {
                try printJSON(stats)
            } else {
                print(
                    renderTable(
                        ["state", "jobs"],
                        [
                            ["pending", "\(stats.pending)"], ["running", "\(stats.running)"], ["done", "\(stats.done)"],
                            ["dead", "\(stats.dead)"],
                        ]))
            }
        }
    }
}

/// `notifyctl queue list`: jobs, newest first, optionally of one state and kind.
struct QueueList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List jobs, optionally of one state and kind.")

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "pending, running, done or dead.")
    var state: String?

    @Option(name: .long, help: "A job kind: notification, reconcile, close, or one a newer version added.")
    var kind: String?

    @Option(name: .long, help: "At most this many jobs.")
    var limit = 100

    @Flag(name: .long, help: "Print [{\"id\",\"kind\",\"state\",\"attempts\",\"out_trade_no\",\"notify_id\",\"last_error\"}].")
    var json = false

    func run() async throws {
        try await reporting {
            guard limit > 0 else { throw CLIFailure.configuration("--limit must be at least 1") }
            if let state, JobState(rawValue: state) == nil {
                throw CLIFailure.configuration("--state must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            // Kinds are open (a newer worker may add its own), so any name is a valid filter.
            if let kind, kind.isEmpty { throw CLIFailure.configuration("--kind must not be empty") }
            let settings = try await options.load()
            let (state, kind, limit) = (state.flatMap(JobState.init), kind.map(JobKind.init(rawValue:)), limit)
            let jobs: [Job] = try await withStore(settings) { store in
                do {
                    return try await store.read { db in try db.jobs(state: state, kind: kind, outTradeNo: nil, limit: limit) }
                } catch {
                    throw CLIFailure.failed("cannot read the queue: \(error)")
                }
            }
            let rows = jobs.map(JobRow.init)
            if json {
                try printJSON(rows)
                return
            }
            print(JobRow.table(rows))
        }
    }
}

/// One job as `queue list --json` prints it; every key present, `null` when empty.
struct JobRow: Encodable {
    var id: Int64
    var kind: String
    var state: String
    var attempts: Int
    var outTradeNo: String?
    var notifyId: String?
    var lastError: String?

    init(_ job: Job) {
        id = job.id ?? 0
        kind = job.kind.rawValue
        state = job.state.rawValue
        attempts = job.attempts
        outTradeNo = job.outTradeNo
        notifyId = job.notifyId
        lastError = job.lastError
    }

    /// The rows as a table for people (`queue list`, `queue replay`).
    static func table(_ rows: [JobRow]) -> String {
        renderTable(
            ["id", "kind", "state", "attempts", "out_trade_no", "notify_id", "last_error"],
            rows.map {
                ["\($0.id)", $0.kind, $0.state, "\($0.attempts)", $0.outTradeNo ?? "-", $0.notifyId ?? "-", $0.lastError ?? ""]
            })
    }

    enum CodingKeys: String, CodingKey {
        case id, kind, state, attempts, outTradeNo = "out_trade_no", notifyId = "notify_id", lastError = "last_error"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(kind, forKey: .kind)
        try container.encode(state, forKey: .state)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(outTradeNo, forKey: .outTradeNo)
        try container.encode(notifyId, forKey: .notifyId)
        try container.encode(lastError, forKey: .lastError)
    }
}
