import AlipayKit
import Foundation
import GRDB
import NotifyStore
@testable import NotifyStoreSQLite
import StoreTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// How fast `notify-worker` works through its queue, with release binaries (`scripts/bench/worker` points
/// `ALIPAY_NOTIFY_BIN_DIR` at them):
/// - `drain` (when `ALIPAY_NOTIFY_BENCH_JOBS` is set): queued notifications that need no gateway call (each job:
///   re-read the body, verify RSA2, check, apply, complete);
/// - `reconcile` (when `ALIPAY_NOTIFY_BENCH_RECONCILES` is set): paid orders whose notification never came, each
///   settled by a signed `alipay.trade.query` to a real `alipay-sandbox` and the verified answer applied.
/// Each prints one summary line with the daemons' peak RSS (VmHWM) read just before SIGTERM.
@Suite("notify-worker benchmark", .serialized)
struct WorkerBenchmarkTests {
    static var jobs: Int? { ProcessInfo.processInfo.environment["ALIPAY_NOTIFY_BENCH_JOBS"].flatMap { Int($0) } }
    static var reconciles: Int? { ProcessInfo.processInfo.environment["ALIPAY_NOTIFY_BENCH_RECONCILES"].flatMap { Int($0) } }
    static var concurrency: String { ProcessInfo.processInfo.environment["ALIPAY_NOTIFY_BENCH_CONCURRENCY"] ?? "8" }

    @Test("drain N queued notifications", .enabled(if: jobs != nil, "a benchmark, not a test: run scripts/bench/worker (sets ALIPAY_NOTIFY_BENCH_JOBS)"))
    func drain() async throws {
        let count = try #require(Self.jobs)
        let workspace = try TestWorkspace(name: "worker-bench")
        let database = try SQLiteStore(path: workspace.databasePath)
        let queue = StoreQueue(database)
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
                    try SQLiteTransaction(db).insertOrder(Order(outTradeNo: "BENCH\(index)", subject: "bench", totalAmountFen: 8888, status: .waitBuyerPay, createdAt: now))
                    _ = try SQLiteQueue.append(
                        IncomingNotification(notifyId: "bench-\(index)", outTradeNo: "BENCH\(index)", tradeStatus: "TRADE_SUCCESS", body: bodies[index]),
                        now: SQLiteTime.text(now), in: db)
                }
            }
        }
        print("worker bench: seeded \(count) orders and notifications in \(ContinuousClock.now - seedStart)")

        let environment = workspace.environment(
            receiverPort: 9, apiPort: 9, extra: ["WORKER_CONCURRENCY": Self.concurrency, "WORKER_POLL_MILLISECONDS": "5", "LOG_LEVEL": "warning", "WORKER_METRICS_PORT": "0"])
        let (seconds, workerRSS) = try await Self.runWorker(
            environment: environment, workspace: workspace, database: database, until: count,
            finishedSQL: "SELECT COUNT(*) FROM jobs WHERE state IN ('done', 'dead')")
        let stats = try await queue.stats()
        #expect(stats.done == count, "\(stats)")
        print(
            "worker bench summary: jobs=\(count) done=\(stats.done) dead=\(stats.dead) concurrency=\(Self.concurrency) "
                + "seconds=\(String(format: "%.1f", seconds)) applies_per_second=\(Int(Double(stats.done) / seconds)) "
                + "worker_peak_rss_kb=\(workerRSS) binaries=\(Executables.directory.path)")
        workspace.remove()
    }

    @Test(
        "reconcile N paid orders whose notifications never came, against alipay-sandbox",
        .enabled(if: reconciles != nil, "a benchmark, not a test: run scripts/bench/worker reconcile (sets ALIPAY_NOTIFY_BENCH_RECONCILES)"))
    func reconcile() async throws {
        let count = try #require(Self.reconciles)
        let workspace = try TestWorkspace(name: "reconcile-bench")
        let sandboxPort = try Ports.free()
        let sandboxURL = "http://127.0.0.1:\(sandboxPort)"
        let sandbox = try DaemonProcess.start(
            "alipay-sandbox",
            environment: [
                "SANDBOX_HOST": "127.0.0.1", "SANDBOX_PORT": "\(sandboxPort)", "SANDBOX_APP_ID": TestWorkspace.appId,
                "SANDBOX_SELLER_ID": TestWorkspace.sellerId,
                "SANDBOX_ALIPAY_PRIVATE_KEY_FILE": workspace.file("keys/alipay_private_key.pem").path,
                "SANDBOX_APP_PUBLIC_KEY_FILE": workspace.file("keys/app_public_key.pem").path, "LOG_LEVEL": "warning",
            ],
            logFile: workspace.file("sandbox.log"))
        do {
            try await sandbox.waitUntilHealthy("\(sandboxURL)/healthz")

            // Alipay's side: trades opened without a notify_url and paid, so no notification is ever sent; only
            // alipay.trade.query can tell the merchant. Opened over the control API, a few lanes at a time.
            let seedStart = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                let lanes = 16
                for lane in 0..<lanes {
                    group.addTask {
                        for index in stride(from: lane, to: count, by: lanes) {
                            let outTradeNo = "RECON\(index)"
                            let opened = try await HTTP.send(
                                .POST, "\(sandboxURL)/sandbox/trades", headers: [("Content-Type", "application/json")],
                                body: #"{"out_trade_no":"\#(outTradeNo)","total_amount":"88.88","subject":"bench"}"#)
                            guard opened.status == 201 else { throw HarnessError("POST /sandbox/trades: \(opened.status) \(opened.body)") }
                            let paid = try await HTTP.send(
                                .POST, "\(sandboxURL)/sandbox/trades/\(outTradeNo)/pay", headers: [("Content-Type", "application/json")],
                                body: "{}")
                            guard paid.status == 200 else { throw HarnessError("pay \(outTradeNo): \(paid.status) \(paid.body)") }
                        }
                    }
                }
                try await group.waitForAll()
            }
            // The merchant's side: the unpaid orders, each with the reconcile job the sweeper enqueues once an order
            // is worker.reconcileAfterSeconds old (set to an hour below, so the sweeper adds nothing during the run).
            let database = try SQLiteStore(path: workspace.databasePath)
            let queue = StoreQueue(database)
            let now = Date()
            for start in stride(from: 0, to: count, by: 5_000) {
                try await database.pool.write { db in
                    for index in start..<min(count, start + 5_000) {
                        try SQLiteTransaction(db).insertOrder(Order(outTradeNo: "RECON\(index)", subject: "bench", totalAmountFen: 8888, status: .waitBuyerPay, createdAt: now))
                        _ = try SQLiteTransaction(db).enqueue(
                            NewJob(kind: .reconcile, uniqueKey: "reconcile:RECON\(index)", outTradeNo: "RECON\(index)", runAt: now))
                    }
                }
            }
            print("reconcile bench: \(count) trades paid at the sandbox, orders and reconcile jobs seeded in \(ContinuousClock.now - seedStart)")

            let environment = workspace.environment(
                receiverPort: 9, apiPort: 9,
                extra: [
                    "ALIPAY_GATEWAY_URL": "\(sandboxURL)/gateway.do", "WORKER_CONCURRENCY": Self.concurrency, "WORKER_POLL_MILLISECONDS": "5",
                    "WORKER_RECONCILE_AFTER_SECONDS": "3600", "LOG_LEVEL": "warning", "WORKER_METRICS_PORT": "0",
                ])
            let (seconds, workerRSS) = try await Self.runWorker(
                environment: environment, workspace: workspace, database: database, until: count,
                finishedSQL: "SELECT COUNT(*) FROM jobs WHERE kind = 'reconcile' AND state IN ('done', 'dead')")
            let sandboxRSS = Self.peakRSSKilobytes(sandbox.pid)
            let stats = try await queue.stats()
            let paid = try await database.pool.read { db in
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*) FROM orders
                        WHERE status IN ('TRADE_SUCCESS', 'TRADE_FINISHED')
                          AND EXISTS (SELECT 1 FROM order_events e WHERE e.out_trade_no = orders.out_trade_no AND e.source = 'query')
                        """) ?? 0
            }
            #expect(paid == count, "every order paid through trade.query: \(stats)")
            print(
                "reconcile bench summary: reconciles=\(count) done=\(stats.done) dead=\(stats.dead) paid=\(paid) "
                    + "concurrency=\(Self.concurrency) seconds=\(String(format: "%.1f", seconds)) "
                    + "reconciles_per_second=\(Int(Double(paid) / seconds)) worker_peak_rss_kb=\(workerRSS) "
                    + "sandbox_peak_rss_kb=\(sandboxRSS) binaries=\(Executables.directory.path)")
        } catch {
            await sandbox.stop()
            throw error
        }
        sandbox.signal(SIGTERM)
        _ = try? await sandbox.waitForExit()
        workspace.remove()
    }

    /// The process's peak resident set size in KiB (`VmHWM` of /proc/PID/status), 0 when unreadable.
    /// Starts notify-worker, waits until `finishedSQL` counts `until` jobs, then stops it with SIGTERM (exit 0 expected).
    /// Returns the seconds from start to that count and the worker's peak RSS.
    static func runWorker(
        environment: [String: String], workspace: TestWorkspace, database: SQLiteStore, until count: Int, finishedSQL: String
    ) async throws -> (seconds: Double, peakRSSKilobytes: Int) {
        let started = ContinuousClock.now
        let worker = try DaemonProcess.start("notify-worker", environment: environment, logFile: workspace.file("worker.log"))
        do {
            var finished = 0
            while finished < count, worker.isRunning {
                try await Task.sleep(for: .milliseconds(50))
                finished = try await database.pool.read { db in try Int.fetchOne(db, sql: finishedSQL) ?? 0 }
            }
        } catch {
            await worker.stop()
            throw error
        }
        let elapsed = ContinuousClock.now - started
        let rss = peakRSSKilobytes(worker.pid)
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit() == 0, "log:\n\(worker.log)")
        return (seconds(elapsed), rss)
    }

    static func peakRSSKilobytes(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return 0 }
        return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? 0
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
