import AlipayKit
import Foundation
import Testing

@testable import AlipaySandbox

/// The small pieces: China time, Alipay's number shapes, the retry schedule, the sandbox key files.
@Suite struct SupportingTypesTests {
    @Test func chinaTimeIsUTCPlusEight() throws {
        let instant = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18 11:06:40 UTC
        #expect(ChinaTime.string(instant) == "2026-11-18 19:06:40")
        #expect(ChinaTime.date("2026-11-18 19:06:40") == instant)
        #expect(ChinaTime.compactDay(Date(timeIntervalSince1970: 1_795_017_600)) == "20261119", "16:00 UTC is already the next day in China")
        for bad in ["2026-11-18T16:26:40", "2026-13-01 00:00:00", "2026-02-30 00:00:00", "2026-11-18 24:00:00", "2026-11-18 16:26"] {
            #expect(ChinaTime.date(bad) == nil, "\(bad)")
        }
    }

    @Test func numbersHaveAlipaysShapes() {
        let day = Date(timeIntervalSince1970: 1_795_000_000)
        #expect(Identifiers.tradeNo(day: day, sequence: 1234) == "2026111822001400000000001234")
        #expect(Identifiers.notifyId(day: day, sequence: 7).count == 34)
        var generator = SeededGenerator(seed: 1)
        #expect(Identifiers.buyerId(using: &generator).wholeMatch(of: /2088\d{12}/) != nil)
        #expect(Identifiers.maskedLogonId(using: &generator).wholeMatch(of: /1\d\d\*\*\*\*\d{4}/) != nil)
    }

    @Test func retryScheduleIsAlipays() {
        let real = RetrySchedule()
        #expect(real.maxAttempts == 8)
        #expect((1...7).compactMap { real.delay(afterFailedAttempt: $0) } == [
            .seconds(240), .seconds(600), .seconds(600), .seconds(3600), .seconds(7200), .seconds(21600), .seconds(54000),
        ])
        #expect(real.delay(afterFailedAttempt: 8) == nil)
        let fast = RetrySchedule(timeScale: 10_000)
        #expect(fast.delay(afterFailedAttempt: 1) == .milliseconds(24))
        #expect(fast.delay(afterFailedAttempt: 7) == .milliseconds(5400))
    }

    @Test func jsonTextEscapesLikeJSON() throws {
        var node = JSONObjectText()
        node.add("a", "quote \" backslash \\ slash / 中文 \n\u{1}")
        node.add("absent", nil)
        let decoded = try JSONDecoder().decode([String: String].self, from: Data(node.text.utf8))
        #expect(decoded == ["a": "quote \" backslash \\ slash / 中文 \n\u{1}"])
        #expect(node.text.contains("slash / 中文"), "slashes and Chinese stay as they are, as in Alipay's answers")
    }

    @Test func keysCommandWritesAUsablePair() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let paths = try SandboxKeys.generate(into: directory.path)
        #expect(paths.map { ($0 as NSString).lastPathComponent } == ["alipay_private_key.pem", "alipay_public_key.pem", "alipay_public_key.txt"])
        let attributes = try FileManager.default.attributesOfItem(atPath: paths[0])
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let privateKey = try RSAPrivateKey(contentsOfFile: paths[0], role: .alipayPrivateKey)
        let publicKey = try RSAPublicKey(contentsOfFile: paths[1], role: .alipayPublicKey)
        let bare = try RSAPublicKey(contentsOfFile: paths[2], role: .alipayPublicKey)
        #expect(!(try String(contentsOfFile: paths[2], encoding: .utf8)).contains("BEGIN"))
        let signature = try privateKey.sign("hello", type: .rsa2)
        #expect(publicKey.isValidSignature(signature, for: "hello", type: .rsa2))
        #expect(bare.isValidSignature(signature, for: "hello", type: .rsa2))
        #expect(throws: SandboxError.self) { try SandboxKeys.generate(into: directory.path) }
        #expect(try SandboxKeys.generate(into: directory.path, force: true).count == 3)
    }
}
