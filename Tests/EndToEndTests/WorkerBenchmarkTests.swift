import AlipayKit
import Foundation
import GRDB
import NotifyStore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// How fast `notify-worker` drains queued notifications when no gateway call is needed (each job: re-read the
/// body, verify RSA2, check, apply, complete — one durable transaction). Runs only when `ALIPAY_NOTIFY_BENCH_JOBS`
/// is set (`scripts/bench/worker` sets it to 100,000 and points `ALIPAY_NOTIFY_BIN_DIR` at a release build).
@Suite("notify-worker benchmark", .serialized)
struct WorkerBenchmarkTests {
    static var jobs: Int? { ProcessInfo.processInfo.environment["ALIPAY_NOTIFY_BENCH_JOBS"].flatMap { Int($0) } }
    static var concurrency: String { ProcessInfo.processInfo.environment["ALIPAY_NOTIFY_BENCH_CONCURRENCY"] ?? "8" }

    @Test("drain N queued notifications", .enabled(if: jobs != nil, "a benchmark, not a test: run scripts/bench/worker (sets ALIPAY_NOTIFY_BENCH_JOBS)"))
    func drain() async throws {
        let count = try #require(Self.jobs)
        let workspace = try TestWorkspace(name: "worker-bench")
        let database = try NotifyDatabase(path: workspace.databasePath)
        let queue = SQLiteJobQueue(database: database)
        let key = workspace.alipayKey

        // Signing is the slow part of seeding: spread it over the cores.
        let seedStart = ContinuousClock.now
        let bodies = try await withThrowingTaskGroup(of: [(Int, String)].self) { group in
            let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
            for worker in 0..<workers {
                group.addTask {
                    try stride(from: worker, to: count, by: workers).map { index in
                        let parameters = SignedNotifications.parameters(
                            notifyId: "bench-\(index)", outTradeNo: "BENCH\(index)", totalAmount: "88.88")
                        return (index, try NotificationSigner.signedBody(parameters, key: key))
                    }
                }
            }
            var all = [String](repeating: "", count: count)
            for try await part in group { for (index, body) in part { all[index] = body } }
            return all
        }
        let now = Date()
        for start in stride(from: 0, to: count, by: 5_000) {
            try await database.pool.write { db in
                for index in start..<min(count, start + 5_000) {
                    try Order(outTradeNo: "BENCH\(index)", subject: "bench", totalAmountFen: 8888, status: "WAIT_BUYER_PAY", createdAt: now)
                        .insert(db)
                    let stored = try StoredNotification(
                        notifyId: "bench-\(index)", outTradeNo: "BENCH\(index)", tradeStatus: "TRADE_SUCCESS", body: bodies[index],
                        firstReceivedAt: now, lastReceivedAt: now
                    ).insertAndFetch(db)
                    _ = try queue.enqueue(
                        NewJob(
                            kind: .notification, uniqueKey: "notification:bench-\(index)", outTradeNo: "BENCH\(index)",
                            notificationId: stored.id, notifyId: "bench-\(index)", runAt: now),
                        in: db)
                }
            }
        }
        print("worker bench: seeded \(count) orders and notifications in \(ContinuousClock.now - seedStart)")

        let environment = workspace.environment(
            receiverPort: 9, apiPort: 9, extra: ["WORKER_CONCURRENCY": Self.concurrency, "WORKER_POLL_MILLISECONDS": "5", "LOG_LEVEL": "warning", "WORKER_METRICS_PORT": "0"])
        let started = ContinuousClock.now
        let worker = try DaemonProcess.start("notify-worker", environment: environment, logFile: workspace.file("worker.log"))
        var finished = 0
        while finished < count, worker.isRunning {
            try await Task.sleep(for: .milliseconds(50))
            finished = try await database.pool.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs WHERE state IN ('done', 'dead')") ?? 0
            }
        }
        let elapsed = ContinuousClock.now - started
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit() == 0, "log:\n\(worker.log)")
        let stats = try await queue.stats()
        #expect(stats.done == count, "\(stats)")
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(
            "worker bench summary: jobs=\(count) done=\(stats.done) dead=\(stats.dead) concurrency=\(Self.concurrency) "
                + "seconds=\(String(format: "%.1f", seconds)) applies_per_second=\(Int(Double(stats.done) / seconds)) "
                + "binaries=\(Executables.directory.path)")
        workspace.remove()
    }
}
