import Foundation
import GRDB
import NotifyStore
import NotifyStoreSQLite

/// One timed run against one database: enqueue as the receiver does, or claim and complete as the worker does.
struct QueueBenchmark {
    /// What a timed run did.
    struct Rate: Codable {
        /// Jobs enqueued, or claimed and completed.
        var count: Int
        /// Wall-clock seconds the run took.
        var seconds: Double
        /// Transactions committed (group commits, or claims plus completions).
        var transactions: Int
        /// True when a claim run ran out of due jobs before its time was up.
        var drained: Bool = false
        /// Seconds spent in claim transactions, and in the transactions completing the batches (claim runs only).
        var claimSeconds = 0.0, completeSeconds = 0.0

        /// Jobs per second.
        var perSecond: Double { seconds > 0 ? Double(count) / seconds : 0 }
    }

    let database: SQLiteStore

    /// The receiver's durable enqueue for `seconds`: `clients` concurrent callers append signed-size notifications
    /// through `NotificationWriter` in its default group-commit mode (notification row + job row, fsync per batch).
    func enqueue(seconds: Double, clients: Int) async throws -> Rate {
        let writer = NotificationWriter(store: database)
        let signatures = (0..<64).map { _ in Self.hex(bytes: 172) }
        let started = ContinuousClock.now
        let deadline = started + .milliseconds(Int64(seconds * 1000))
        let count = try await withThrowingTaskGroup(of: Int.self) { group in
            for client in 0..<clients {
                group.addTask {
                    var appended = 0
                    while ContinuousClock.now < deadline {
                        let notifyId = Self.hex(bytes: 16)
                        // Order numbers grow with time, as most merchants make them; notify_ids are random, as Alipay's.
                        let outTradeNo = "ORD\(Int64(Date().timeIntervalSince1970 * 1_000_000))-\(client)-\(appended)"
                        let body = QueueSeed.body(
                            notifyId: notifyId, outTradeNo: outTradeNo, signature: signatures[appended % signatures.count])
                        _ = try await writer.append(
                            IncomingNotification(notifyId: notifyId, outTradeNo: outTradeNo, tradeStatus: "TRADE_SUCCESS", body: body))
                        appended += 1
                    }
                    return appended
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = ContinuousClock.now - started
        await writer.shutdown()
        return Rate(count: count, seconds: elapsed.seconds, transactions: writer.counts.committedBatches)
    }

    /// The worker's queue traffic for `seconds` (or until no job is due): claim up to `batch` due jobs in one
    /// transaction, then complete them all in a second one, as a batching worker does around its apply.
    func claim(seconds: Double, batch: Int) async throws -> Rate {
        let owner = "notify-bench-\(getpid())"
        let started = ContinuousClock.now
        let deadline = started + .milliseconds(Int64(seconds * 1000))
        var rate = Rate(count: 0, seconds: 0, transactions: 0)
        while ContinuousClock.now < deadline {
            let claimStarted = ContinuousClock.now
            let jobs = try await database.claim(owner: owner, limit: batch, lease: .seconds(300), now: Date())
            let completeStarted = ContinuousClock.now
            rate.claimSeconds += (completeStarted - claimStarted).seconds
            rate.transactions += 1
            if jobs.isEmpty {
                rate.drained = true
                break
            }
            try await database.write { db in
                for job in jobs { try db.complete(job.lease!) }
            }
            rate.completeSeconds += (ContinuousClock.now - completeStarted).seconds
            rate.transactions += 1
            rate.count += jobs.count
        }
        rate.seconds = (ContinuousClock.now - started).seconds
        return rate
    }

    /// Lower-case hex of `bytes` random bytes (notify_ids and signature stand-ins).
    static func hex(bytes: Int) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var generator = SystemRandomNumberGenerator()
        var text = [UInt8]()
        text.reserveCapacity(bytes * 2)
        for _ in 0..<bytes {
            let byte = UInt8.random(in: 0...255, using: &generator)
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 15)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
