import Foundation
import StoreTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Invariant 1 under `kill -9`: a notification answered `success` survives a crash at any instant.
///
/// Each round starts the receiver on the same database, sends many signed notifications concurrently,
/// kills the process with SIGKILL after a random number of acknowledgements, then opens the store (the SQLite
/// file, or the PostgreSQL database) and checks
/// that every acknowledged `notify_id` is there with its job. `ALIPAY_NOTIFY_CRASH_ROUNDS` and
/// `ALIPAY_NOTIFY_CRASH_NOTIFICATIONS` make it longer (`scripts/crash/receiver` runs ≥ 10 rounds).
@Suite("notify-receiver crash safety", .serialized)
struct ReceiverCrashTests {
    static var rounds: Int { environmentInt("ALIPAY_NOTIFY_CRASH_ROUNDS") ?? 3 }
    static var notificationsPerRound: Int { environmentInt("ALIPAY_NOTIFY_CRASH_NOTIFICATIONS") ?? 200 }

    static func environmentInt(_ name: String) -> Int? {
        ProcessInfo.processInfo.environment[name].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
    }

    @Test("kill -9 at a random moment loses no acknowledged notification", arguments: TestEngine.allCases)
    func killNineLosesNothing(engine: TestEngine) async throws {
        guard let workspace = try TestWorkspace.make(name: "receiver-crash", engine: engine) else { return }
        var totalAcknowledged = 0
        var totalLost = 0
        var storedAtEnd = 0

        for round in 1...Self.rounds {
            let receiver = try await ReceiverDaemon.start(in: workspace, logName: "receiver-round-\(round).log")
            let count = Self.notificationsPerRound
            let bodies = try (0..<count).map {
                try SignedNotifications.body(
                    notifyId: "crash-\(round)-\($0)", outTradeNo: "CRASH\(round)N\($0)", key: workspace.alipayKey)
            }
            let killAfter = Int.random(in: 1...max(1, count * 3 / 4))
            let acknowledged = Locked<[String]>([])

            await withTaskGroup(of: Void.self) { group in
                // A handful of senders keep many requests in flight, as Alipay's retries and bursts would.
                let next = Locked(0)
                let finishedSenders = Locked(0)
                for _ in 0..<16 {
                    group.addTask {
                        defer { finishedSenders.withLock { $0 += 1 } }
                        while true {
                            let index = next.withLock { value -> Int in
                                defer { value += 1 }
                                return value
                            }
                            guard index < count, receiver.process.isRunning else { return }
                            guard let reply = try? await HTTP.notify(receiver.publicURL, body: bodies[index], timeout: .seconds(3)),
                                reply.status == 200, reply.body == "success"
                            else { continue }
                            acknowledged.withLock { $0.append("crash-\(round)-\(index)") }
                        }
                    }
                }
                group.addTask {
                    // Poll the acknowledgement count; kill at the chosen, random point while requests are in flight.
                    while acknowledged.withLock({ $0.count }) < killAfter, finishedSenders.withLock({ $0 < 16 }) {
                        try? await Task.sleep(for: .milliseconds(1))
                    }
                    receiver.process.signal(SIGKILL)
                }
            }
            let status = try await receiver.process.waitForExit()
            #expect(status == 128 + SIGKILL, "round \(round): the receiver should have died of SIGKILL, got \(status)")

            let acked = acknowledged.withLock { $0 }
            let stored = try await StoreInspector.notifications(in: workspace)
            let jobs = Set(try await StoreInspector.jobs(in: workspace, kind: .notification).compactMap(\.notifyId))
            let lost = acked.filter { stored[$0] == nil || !jobs.contains($0) }
            #expect(lost.isEmpty, "round \(round): answered success but missing after the crash: \(lost.prefix(10))")
            totalAcknowledged += acked.count
            totalLost += lost.count
            storedAtEnd = stored.count
        }

        // After the last crash the receiver starts again on the same file and keeps working.
        let receiver = try await ReceiverDaemon.start(in: workspace, logName: "receiver-after.log")
        let body = try SignedNotifications.body(notifyId: "after-crash", outTradeNo: "AFTER1", key: workspace.alipayKey)
        #expect(try await HTTP.notify(receiver.publicURL, body: body).body == "success")
        receiver.process.signal(SIGTERM)
        #expect(try await receiver.process.waitForExit() == 0)

        print(
            "receiver crash summary: rounds=\(Self.rounds) acknowledged=\(totalAcknowledged) stored=\(storedAtEnd) lost=\(totalLost)")
        if totalLost == 0 { workspace.remove() }
    }
}
