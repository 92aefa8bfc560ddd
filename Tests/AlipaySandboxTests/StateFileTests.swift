import AlipayKit
import AlipaySandbox
import Foundation
import Testing

/// The optional state file: a new sandbox on the same file keeps the trades; a damaged file is refused.
@Suite struct StateFileTests {
    @Test func restartKeepsTrades() async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("state.json").path

        let first = try Sandbox(configuration: Fixtures.configuration(stateFile: path))
        let paid = try await first.openTrade(NewTrade(outTradeNo: "KEEP1", totalAmount: Amount(fen: 4200), subject: "kept"))
        _ = try await first.pay(outTradeNo: "KEEP1")
        _ = try await first.refund(outTradeNo: "KEEP1", tradeNo: nil, amount: Amount(fen: 200), outRequestNo: "R1", reason: nil)
        _ = try await first.openTrade(NewTrade(outTradeNo: "KEEP2", totalAmount: Amount(fen: 100), subject: "waiting"))
        #expect(FileManager.default.fileExists(atPath: path))

        let second = try Sandbox(configuration: Fixtures.configuration(stateFile: path))
        let restored = try #require(await second.trade(outTradeNo: "KEEP1"))
        #expect(restored.tradeNo == paid.tradeNo)
        #expect(restored.status == .tradeSuccess)
        #expect(restored.refundedAmount == Amount(fen: 200))
        #expect(restored.refunds.map(\.outRequestNo) == ["R1"])
        #expect(await second.trade(outTradeNo: "KEEP2")?.status == .waitBuyerPay)
        // Numbering continues where it stopped, so trade numbers stay unique across restarts.
        let third = try await second.openTrade(NewTrade(outTradeNo: "KEEP3", totalAmount: Amount(fen: 100), subject: "new"))
        #expect(third.tradeNo.suffix(13) == "0000000000003")
        // The restored trade behaves: paying it twice is refused, refunding the rest closes it.
        await #expect(throws: TradeError.tradeHasSuccess) { try await second.pay(outTradeNo: "KEEP1") }
        let closed = try await second.refund(outTradeNo: "KEEP1", tradeNo: nil, amount: Amount(fen: 4000), outRequestNo: "R2", reason: nil)
        #expect(closed.trade.status == .tradeClosed)
    }

    @Test func pendingNotificationsSurviveARestart() async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("state.json").path
        let first = try Sandbox(configuration: Fixtures.configuration(stateFile: path))
        _ = try await first.openTrade(
            NewTrade(outTradeNo: "PEND", totalAmount: Amount(fen: 100), subject: "pending", notifyUrl: "http://127.0.0.1:9/notify"))
        _ = try await first.pay(outTradeNo: "PEND")
        let second = try Sandbox(configuration: Fixtures.configuration(stateFile: path))
        #expect(await second.pendingNotificationCount() == 1)
    }

    @Test func resetEmptiesTheFile() async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("state.json").path
        let first = try Sandbox(configuration: Fixtures.configuration(stateFile: path))
        _ = try await first.openTrade(NewTrade(outTradeNo: "GONE", totalAmount: Amount(fen: 100), subject: "gone"))
        await first.reset()
        let second = try Sandbox(configuration: Fixtures.configuration(stateFile: path))
        #expect(await second.trades().isEmpty)
    }

    @Test func damagedFileIsRefusedNotReplaced() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("state.json").path
        try Data("{\"trades\": [".utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try Sandbox(configuration: Fixtures.configuration(stateFile: path))
        } throws: { error in
            (error as? SandboxError).map { "\($0)".contains(path) } == true
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"trades\": [")
    }

    @Test func unwritableLocationFailsAtStart() {
        #expect(throws: SandboxError.self) {
            _ = try Sandbox(configuration: Fixtures.configuration(stateFile: "/nonexistent-dir/sub/state.json"))
        }
    }
}
