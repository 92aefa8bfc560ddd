@testable import AlipayKit
import Foundation
import Logging
import MetricsTestKit
import Testing

@testable import NotifyCore

/// The configuration of certificate mode and content encryption: the files the Alipay console hands out, the ways
/// they get mixed up, and the errors that name the key to fix.
@Suite("Certificate mode and AES configuration")
struct CertificateConfigurationTests {
    /// A folder with an app key, a certificate set for it and Alipay's key, and an AES key file.
    struct Files {
        let folder: URL
        let appKey: RSAPrivateKey
        let alipayKey: RSAPrivateKey

        init() throws {
            folder = FileManager.default.temporaryDirectory.appendingPathComponent("cert-config-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            appKey = try RSAPrivateKey.generate()
            alipayKey = try RSAPrivateKey.generate()
            let set = try CertificateIssuing.makeSet(alipayKey: alipayKey.publicKey, appKey: appKey.publicKey, appId: "2021000000000001")
            try write("app_private_key.pem", appKey.pemRepresentation)
            try write("appCertPublicKey.crt", set.appCertificate)
            try write("alipayCertPublicKey_RSA2.crt", set.alipayCertificate)
            try write("alipayRootCert.crt", set.rootBundle)
            try write("alipay_public_key.pem", alipayKey.publicKey.pemRepresentation)
            try write("aes.txt", ContentEncryptionKey.generate().base64)
        }

        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        func write(_ name: String, _ text: String) throws { try text.write(toFile: path(name), atomically: true, encoding: .utf8) }
        func remove() { try? FileManager.default.removeItem(at: folder) }

        /// The environment of a complete certificate-mode configuration, with `changes` applied (nil removes a variable).
        func environment(_ changes: [String: String?] = [:]) -> [String: String] {
            var environment = [
                "ALIPAY_APP_ID": "2021000000000001",
                "ALIPAY_APP_PRIVATE_KEY_FILE": path("app_private_key.pem"),
                "ALIPAY_APP_CERT_FILE": path("appCertPublicKey.crt"),
                "ALIPAY_CERT_FILE": path("alipayCertPublicKey_RSA2.crt"),
                "ALIPAY_ROOT_CERT_FILE": path("alipayRootCert.crt"),
            ]
            for (key, value) in changes { environment[key] = value }
            return environment
        }
    }

    static func error(_ body: () async throws -> Void) async -> String {
        do {
            try await body()
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test("the three files select certificate mode: both SNs on requests, Alipay's key from its certificate")
    func complete() async throws {
        let files = try Files()
        defer { files.remove() }
        let configuration = try await NotifyConfiguration.load(environment: files.environment())
        #expect(configuration.isCertificateMode)
        let alipay = try configuration.alipayConfiguration()
        let keyring = try #require(alipay.certificates)
        #expect(alipay.alipayPublicKey.base64DER == files.alipayKey.publicKey.base64DER)
        #expect(keyring.appCertSN.count == 32 && keyring.rootCertSN.count == 32)
        let parameters = try RequestSigner(configuration: alipay).signedParameters(TradeQuery(outTradeNo: "C1"))
        #expect(parameters["app_cert_sn"] == keyring.appCertSN)
        #expect(parameters["alipay_root_cert_sn"] == keyring.rootCertSN)
        #expect(parameters["encrypt_type"] == nil)
        #expect(try configuration.notificationVerifier().certificateMode)
    }

    @Test("Alipay's certificate under its other name: alipay.alipayCertFile / ALIPAY_ALIPAY_CERT_FILE select the same mode; two different files are refused")
    func certFileAlias() async throws {
        let files = try Files()
        defer { files.remove() }
        let alipayCert = files.path("alipayCertPublicKey_RSA2.crt")
        // The environment variable of the other name.
        let byEnvironment = try await NotifyConfiguration.load(
            environment: files.environment(["ALIPAY_CERT_FILE": nil, "ALIPAY_ALIPAY_CERT_FILE": alipayCert]))
        #expect(byEnvironment.isCertificateMode && byEnvironment.alipay.certFile == alipayCert)
        // The file key of the other name, alone or next to the same value: no unknown-key warning either way.
        for keys in [#""alipayCertFile":"\#(alipayCert)""#, #""alipayCertFile":"\#(alipayCert)","certFile":"\#(alipayCert)""#] {
            try files.write("config.json", #"{"alipay":{\#(keys)}}"#)
            let byFile = try await NotifyConfiguration.load(
                configFile: files.path("config.json"), environment: files.environment(["ALIPAY_CERT_FILE": nil]))
            #expect(byFile.alipay.certFile == alipayCert && byFile.isCertificateMode)
            #expect(byFile.warnings.filter { $0.contains("unknown key") }.isEmpty, "\(byFile.warnings)")
            #expect(try byFile.alipayConfiguration().certificates != nil)
        }
        // Both names, two files: which one was meant is not guessed.
        let both = await Self.error {
            _ = try await NotifyConfiguration.load(environment: files.environment(["ALIPAY_ALIPAY_CERT_FILE": files.path("appCertPublicKey.crt")]))
        }
        #expect(both.contains("ALIPAY_CERT_FILE") && both.contains("ALIPAY_ALIPAY_CERT_FILE") && both.contains("set one"), "\(both)")
    }

    @Test("half a set, or a set next to a public key file, is refused naming the keys", arguments: [
        (["ALIPAY_ROOT_CERT_FILE": nil] as [String: String?], "ALIPAY_ROOT_CERT_FILE"),
        (["ALIPAY_APP_CERT_FILE": nil, "ALIPAY_ROOT_CERT_FILE": nil], "alipay.appCertFile (ALIPAY_APP_CERT_FILE), alipay.rootCertFile"),
        (["ALIPAY_PUBLIC_KEY_FILE": "/etc/alipay-notify/alipay_public_key.pem"], "exclude each other"),
    ])
    func incomplete(changes: [String: String?], expected: String) async throws {
        let files = try Files()
        defer { files.remove() }
        let error = await Self.error { _ = try await NotifyConfiguration.load(environment: files.environment(changes)) }
        #expect(error.contains(expected), "\(error)")
    }

    @Test("the console's files mixed up: each refusal names the file to use instead")
    func mixedUp() async throws {
        let files = try Files()
        defer { files.remove() }
        // The app certificate where Alipay's belongs.
        let swapped = try await NotifyConfiguration.load(environment: files.environment(["ALIPAY_CERT_FILE": files.path("appCertPublicKey.crt")]))
        let swappedError = await Self.error { _ = try swapped.alipayConfiguration() }
        #expect(swappedError.contains("ALIPAY_CERT_FILE") && swappedError.contains("alipayCertPublicKey_RSA2.crt"), "\(swappedError)")
        // notifyctl verify still loads it, and its diagnosis says the same for a genuine notification.
        let verifier = try swapped.notificationVerifier()
        let body = try NotificationSigner.signedBody(
            [
                "notify_id": "n1", "notify_type": "trade_status_sync", "notify_time": "2026-12-05 10:00:00", "app_id": "2021000000000001",
                "charset": "utf-8", "version": "1.0", "trade_no": "T1", "out_trade_no": "C1", "trade_status": "TRADE_SUCCESS",
                "total_amount": "1.00",
            ], key: files.alipayKey)
        let inspection = verifier.inspect(body: Array(body.utf8), appPublicKey: files.appKey.publicKey)
        #expect(!inspection.isValid)
        #expect(inspection.diagnosis.contains { $0.code == .appPublicKey && $0.message.contains("alipayCertPublicKey_RSA2.crt") }, "\(inspection.diagnosis)")

        // An app certificate issued for another key.
        try files.write("other_app_key.pem", try RSAPrivateKey.generate().pemRepresentation)
        let otherKey = try await NotifyConfiguration.load(environment: files.environment(["ALIPAY_APP_PRIVATE_KEY_FILE": files.path("other_app_key.pem")]))
        let otherError = await Self.error { _ = try otherKey.alipayConfiguration() }
        #expect(otherError.contains("ALIPAY_APP_CERT_FILE") && otherError.contains("does not carry the public key"), "\(otherError)")

        // A public key where a certificate belongs.
        let keyAsCertificate = try await NotifyConfiguration.load(environment: files.environment(["ALIPAY_CERT_FILE": files.path("alipay_public_key.pem")]))
        let keyError = await Self.error { _ = try keyAsCertificate.alipayConfiguration() }
        #expect(keyError.contains("ALIPAY_CERT_FILE") && keyError.contains("a public key"), "\(keyError)")
    }

    @Test("alipay.encryptKeyFile encrypts biz_content; a bad key file is refused without echoing it")
    func encryption() async throws {
        let files = try Files()
        defer { files.remove() }
        let configuration = try await NotifyConfiguration.load(environment: files.environment(["ALIPAY_ENCRYPT_KEY_FILE": files.path("aes.txt")]))
        let alipay = try configuration.alipayConfiguration()
        let parameters = try RequestSigner(configuration: alipay).signedParameters(TradeQuery(outTradeNo: "C1"))
        #expect(parameters["encrypt_type"] == "AES")
        #expect(try alipay.encryptionKey?.decrypt(try #require(parameters["biz_content"])) == #"{"out_trade_no":"C1"}"#)

        try files.write("bad_aes.txt", "c2VjcmV0LXNob3J0")
        let bad = try await NotifyConfiguration.load(environment: files.environment(["ALIPAY_ENCRYPT_KEY_FILE": files.path("bad_aes.txt")]))
        let error = await Self.error { _ = try bad.alipayConfiguration() }
        #expect(error.contains("ALIPAY_ENCRYPT_KEY_FILE") && error.contains("16 bytes"), "\(error)")
        #expect(!error.contains("c2VjcmV0LXNob3J0"))
    }

    @Test("the expiry gauges say the seconds left of each certificate, warn inside 30 days, and a rotation sets rotation_pending")
    func expiryAndRotationGauges() async throws {
        let files = try Files()
        defer { files.remove() }
        let keyring = try #require(try await NotifyConfiguration.load(environment: files.environment()).alipayConfiguration().certificates)
        let metrics = TestMetrics()
        let expiry = CertificateExpiry(keyring: keyring, logger: Logger(label: "test"), factory: metrics)
        let appEnd = keyring.mode.appCertificate.notValidAfter
        #expect(expiry.refresh(now: appEnd.addingTimeInterval(-40 * 86_400)) == [])
        let gauge = try metrics.expectGauge("alipay_notify_certificate_expiry_seconds", [("certificate", "app")])
        #expect(abs((gauge.lastValue ?? 0) - 40 * 86_400) < 1)
        #expect(expiry.refresh(now: appEnd.addingTimeInterval(-10 * 86_400)).contains("app"))
        #expect(try metrics.expectGauge("alipay_notify_certificate_rotation_pending").lastValue == 0)
        // The keyring adopts a rotated certificate (as AlipayClient does after its checks): pending until installed.
        let rotated = try AlipayCertificate(
            pem: CertificateIssuing.makeSet(alipayKey: try RSAPrivateKey.generate().publicKey, appKey: files.appKey.publicKey, appId: "2021000000000001")
                .alipayCertificate, role: .alipayCertificate)
        keyring.adopt(rotated)
        expiry.refresh()
        #expect(try metrics.expectGauge("alipay_notify_certificate_rotation_pending").lastValue == 1)
    }
}
