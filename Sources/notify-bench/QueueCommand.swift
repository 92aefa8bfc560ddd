import ArgumentParser
import Foundation
import GRDB
import NotifyStore
import NotifyStoreSQLite

/// `notify-bench queue`: enqueue and claim rates on an empty queue versus one holding weeks of history.
///
/// Both databases are real `SQLiteStore` files (WAL, `synchronous=FULL`) driven through the store's own code:
/// enqueue is `NotificationWriter`'s group commit (what the receiver runs), claim is `SQLiteStore.claim` plus one
/// transaction completing the batch (what a batching worker does around its apply). Each round measures the empty
/// queue (a fresh file) and the full one, in alternating order, so drift on a shared machine hits both alike; medians
/// are reported.
struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Enqueue and claim rates: an empty queue vs one with --rows jobs of history (prints one JSON summary line).")

    @Option(help: "Jobs of history in the full queue (about 98.5% done, 1% pending later, 0.5% dead).")
    var rows = 1_000_000

    @Option(help: "Seconds per timed run.")
    var seconds = 5.0

    @Option(help: "Rounds; each measures the empty and the full queue, medians are reported.")
    var rounds = 3

    @Option(help: "Concurrent callers of the group-commit enqueue (like the receiver's connections).")
    var clients = 64

    @Option(help: "Jobs per claim (the worker's default batch size).")
    var claimBatch = 256

    @Option(help: "Due jobs made ready before each claim run (default: 50,000 per second of run).")
    var claimJobs: Int?

    @Option(help: "What if: the writer's SQLite page cache in MiB (default: the store's, store.cacheMegabytes' default).")
    var cacheMib: Int?

    @Option(help: "Folder for the databases (default: a new temporary folder, removed at the end).")
    var dir: String?

    @Flag(help: "Keep the databases (only with --dir).")
    var keep = false

    func validate() throws {
        guard rows >= 0, seconds > 0, rounds >= 1, clients >= 1, claimBatch >= 1 else {
            throw ValidationError("--rows must be ≥ 0; --seconds, --rounds, --clients and --claim-batch must be positive")
        }
    }

    func run() async throws {
        let folder =
            dir.map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("notify-bench-queue-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer {
            if !(keep && dir != nil) {
                for name in ["full", "empty"] { Self.removeDatabase(folder.appendingPathComponent("\(name).sqlite").path) }
                if dir == nil { try? FileManager.default.removeItem(at: folder) }
            }
        }
        let dueTarget = claimJobs ?? Int(seconds * 50_000)

        let fullPath = folder.appendingPathComponent("full.sqlite").path
        Self.removeDatabase(fullPath)
        let full = try SQLiteStore(path: fullPath)
        try await setCache(full)
        let seedStarted = ContinuousClock.now
        try await QueueSeed.history(rows: rows, days: 30, in: full) { done in
            if done % 500_000 == 0 || done == rows { Self.say("seeded \(done) of \(rows) history rows") }
        }
        let seedSeconds = (ContinuousClock.now - seedStarted).seconds
        let fullBytes = Self.fileSize(fullPath)
        Self.say(
            "full queue: \(rows) jobs in \(String(format: "%.1f", seedSeconds)) s, \(fullBytes / 1_048_576) MiB; "
                + "synchronous=\(try full.synchronousMode()), journal_mode=\(try full.journalMode())")

        var runs: [String: [QueueBenchmark.Rate]] = [:]
        let emptyPath = folder.appendingPathComponent("empty.sqlite").path
        for round in 1...rounds {
            Self.removeDatabase(emptyPath)
            let empty = try SQLiteStore(path: emptyPath)
            try await setCache(empty)
            // Alternate which queue goes first (ABBA), so that a trend on the machine favours neither.
            let order = [("empty", empty), ("full", full)]
            for (name, database) in round % 2 == 1 ? order : order.reversed() {
                let benchmark = QueueBenchmark(database: database)
                // Untimed: a fresh file grows its WAL and warms its caches here, not in the measured run.
                _ = try await benchmark.enqueue(seconds: min(1, seconds / 2), clients: clients)
                try await QueueSeed.checkpoint(database)
                let enqueue = try await benchmark.enqueue(seconds: seconds, clients: clients)
                runs["\(name).enqueue", default: []].append(enqueue)
                Self.say(Self.line(round, name, "enqueue", enqueue))

                let due = try await Self.dueCount(database)
                try await QueueSeed.dueJobs(max(0, dueTarget - due), tag: "\(round)", in: database)
                let claim = try await benchmark.claim(seconds: seconds, batch: claimBatch)
                runs["\(name).claim", default: []].append(claim)
                Self.say(Self.line(round, name, "claim", claim))
                try await QueueSeed.checkpoint(database)
            }
            try empty.pool.close()
        }
        Self.removeDatabase(emptyPath)

        func median(_ key: String) -> Double {
            let values = (runs[key] ?? []).map(\.perSecond).sorted()
            guard !values.isEmpty else { return 0 }
            let middle = values.count / 2
            return values.count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2
        }
        let summary = Summary(
            rows: rows, seconds: seconds, rounds: rounds, clients: clients, claimBatch: claimBatch, seedSeconds: seedSeconds,
            fullDatabaseMib: fullBytes / 1_048_576,
            emptyEnqueuePerSecond: median("empty.enqueue").rounded(), fullEnqueuePerSecond: median("full.enqueue").rounded(),
            emptyClaimPerSecond: median("empty.claim").rounded(), fullClaimPerSecond: median("full.claim").rounded(),
            claimDrained: runs.values.joined().contains(where: \.drained))
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        print("queue bench summary: " + String(decoding: try encoder.encode(summary), as: UTF8.self))
    }

    /// The machine-readable result (medians of the rounds; ratios are full ÷ empty).
    struct Summary: Encodable {
        var rows: Int
        var seconds: Double
        var rounds: Int
        var clients: Int
        var claimBatch: Int
        var seedSeconds: Double
        var fullDatabaseMib: Int
        var emptyEnqueuePerSecond: Double
        var fullEnqueuePerSecond: Double
        var emptyClaimPerSecond: Double
        var fullClaimPerSecond: Double
        var claimDrained: Bool
        var enqueueRatio: Double { emptyEnqueuePerSecond > 0 ? fullEnqueuePerSecond / emptyEnqueuePerSecond : 0 }
        var claimRatio: Double { emptyClaimPerSecond > 0 ? fullClaimPerSecond / emptyClaimPerSecond : 0 }

        private enum CodingKeys: String, CodingKey {
            case rows, seconds, rounds, clients, claimBatch, seedSeconds, fullDatabaseMib, emptyEnqueuePerSecond, fullEnqueuePerSecond
            case emptyClaimPerSecond, fullClaimPerSecond, claimDrained, enqueueRatio, claimRatio
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(rows, forKey: .rows)
            try container.encode(seconds, forKey: .seconds)
            try container.encode(rounds, forKey: .rounds)
            try container.encode(clients, forKey: .clients)
            try container.encode(claimBatch, forKey: .claimBatch)
            try container.encode((seedSeconds * 10).rounded() / 10, forKey: .seedSeconds)
            try container.encode(fullDatabaseMib, forKey: .fullDatabaseMib)
            try container.encode(emptyEnqueuePerSecond, forKey: .emptyEnqueuePerSecond)
            try container.encode(fullEnqueuePerSecond, forKey: .fullEnqueuePerSecond)
            try container.encode(emptyClaimPerSecond, forKey: .emptyClaimPerSecond)
            try container.encode(fullClaimPerSecond, forKey: .fullClaimPerSecond)
            try container.encode(claimDrained, forKey: .claimDrained)
            try container.encode((enqueueRatio * 1000).rounded() / 1000, forKey: .enqueueRatio)
            try container.encode((claimRatio * 1000).rounded() / 1000, forKey: .claimRatio)
        }
    }

    /// Applies `--cache-mib` to the writer connection, the one that enqueues, claims and completes.
    private func setCache(_ database: SQLiteStore) async throws {
        guard let cacheMib else { return }
        try await database.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA cache_size = \(-1024 * cacheMib)") }
    }

    /// Pending jobs due now (the pending index only).
    private static func dueCount(_ database: SQLiteStore) async throws -> Int {
        try await database.pool.read { db in
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM jobs INDEXED BY jobs_pending_kind_run_at WHERE state = 'pending' AND run_at <= ?",
                arguments: [Date()]) ?? 0
        }
    }

    private static func line(_ round: Int, _ queue: String, _ what: String, _ rate: QueueBenchmark.Rate) -> String {
        "round \(round) \(queue) \(what): \(Int(rate.perSecond))/s (\(rate.count) jobs in \(String(format: "%.2f", rate.seconds)) s, "
            + "\(rate.transactions) transactions"
            + (what == "claim" ? String(format: "; %.1f s claiming, %.1f s completing", rate.claimSeconds, rate.completeSeconds) : "")
            + "\(rate.drained ? ", ran out of due jobs" : ""))"
    }

    private static func say(_ text: String) {
        FileHandle.standardError.write(Data("queue bench: \(text)\n".utf8))
    }

    private static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    private static func removeDatabase(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}
