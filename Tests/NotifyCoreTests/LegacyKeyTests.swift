import AlipayKit
import Foundation
import StoreTestSupport
import Testing

@testable import NotifyCore

/// Old Alipay accounts sign with `RSA` (SHA1withRSA) and keys shorter than 2048 bits: accepted for that sign type
/// only, and their notifications verify (the signature made by OpenSSL, an independent implementation).
@Suite("Legacy RSA keys")
struct LegacyKeyTests {
    static func openssl(_ arguments: [String], in folder: URL) async throws {
        let result = try await ChildProcess.run("/usr/bin/env", ["openssl"] + arguments, in: folder, timeout: .seconds(60))
        try #require(result.status == 0, "openssl \(arguments.joined(separator: " ")) failed: \(result.errorOutput)")
    }

    @Test("1024-bit keys load for alipay.signType RSA, are refused for RSA2 with the reason, and an OpenSSL SHA1withRSA notification verifies")
    func legacyKeys() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("legacy-keys-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try await Self.openssl(["genrsa", "-out", "alipay.pem", "1024"], in: folder)
        try await Self.openssl(["rsa", "-in", "alipay.pem", "-pubout", "-out", "alipay_public.pem"], in: folder)
        try await Self.openssl(["genrsa", "-out", "app.pem", "1024"], in: folder)

        var configuration = NotifyConfiguration()
        configuration.alipay.appId = "2021000000000001"
        configuration.alipay.publicKeyFile = folder.appendingPathComponent("alipay_public.pem").path
        configuration.alipay.appPrivateKeyFile = folder.appendingPathComponent("app.pem").path
        configuration.alipay.signType = .rsa2
        #expect {
            _ = try configuration.loadAlipayPublicKey()
        } throws: { error in
            "\(error)".contains("1024-bit") && "\(error)".contains("RSA2 needs 2048") && "\(error)".contains("ALIPAY_PUBLIC_KEY_FILE")
        }
        #expect(throws: ConfigurationError.self) { _ = try configuration.loadAppPrivateKey() }

        configuration.alipay.signType = .rsa
        let publicKey = try configuration.loadAlipayPublicKey()
        #expect(publicKey.bitCount == 1024)
        #expect(try configuration.loadAppPrivateKey().bitCount == 1024)

        // A notification signed by OpenSSL with SHA1withRSA over Alipay's sign string (sorted key=value pairs without
        // sign and sign_type, joined by &).
        let parameters = [
            "notify_time": "2024-01-01 12:00:01", "notify_type": "trade_status_sync", "notify_id": "legacy-1", "app_id": "2021000000000001",
            "charset": "utf-8", "version": "1.0", "trade_no": "2024010122001400000000000001", "out_trade_no": "LEGACY1",
            "trade_status": "TRADE_SUCCESS", "total_amount": "1.00", "gmt_payment": "2024-01-01 12:00:00",
        ]
        let signString = parameters.keys.sorted().map { "\($0)=\(parameters[$0]!)" }.joined(separator: "&")
        try Data(signString.utf8).write(to: folder.appendingPathComponent("message.txt"))
        try await Self.openssl(["dgst", "-sha1", "-sign", "alipay.pem", "-out", "signature.bin", "message.txt"], in: folder)
        let signature = try Data(contentsOf: folder.appendingPathComponent("signature.bin")).base64EncodedString()
        var form = URLComponents()
        form.queryItems = parameters.map { URLQueryItem(name: $0.key, value: $0.value) } + [
            URLQueryItem(name: "sign_type", value: "RSA"), URLQueryItem(name: "sign", value: signature),
        ]
        let body = form.percentEncodedQuery!.replacingOccurrences(of: "+", with: "%2B")
        let verifier = NotificationVerifier(alipayPublicKey: publicKey, signType: .rsa, appId: "2021000000000001")
        #expect(try verifier.verify(body: body).outTradeNo == "LEGACY1")
        // The same bytes under RSA2 are a downgrade and refused.
        let strict = NotificationVerifier(alipayPublicKey: publicKey, signType: .rsa2, appId: "2021000000000001")
        #expect(throws: NotificationError.signTypeMismatch(expected: "RSA2", got: "RSA")) { _ = try strict.verify(body: body) }
    }

    @Test("sign type RSA loads with a start-up warning that recommends RSA2; RSA2 has none")
    func legacyWarning() async throws {
        let legacy = try await NotifyConfiguration.load(environment: ["ALIPAY_SIGN_TYPE": "RSA"])
        #expect(legacy.warnings.contains { $0.contains("ALIPAY_SIGN_TYPE") && $0.contains("recommends RSA2") }, "\(legacy.warnings)")
        let current = try await NotifyConfiguration.load(environment: ["ALIPAY_SIGN_TYPE": "RSA2"])
        #expect(current.warnings.isEmpty)
    }
}
