import AlipayKit
import AlipaySandbox
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The sandbox in certificate mode and with content encryption: Alipay's refusals for wrong SNs and unencrypted
/// requests, `alipay_cert_sn` on answers, the certificate download, and a rotation.
@Suite struct CertificateModeGatewayTests {
    /// A sandbox with a certificate set written by `SandboxCertificates.write`, an AES key, and the merchant's matching
    /// configuration.
    struct Setup {
        let directory: URL
        let harness: SandboxHarness
        let merchant: AlipayConfiguration
        let key: ContentEncryptionKey

        init(requireEncryption: Bool = true) throws {
            directory = try Fixtures.temporaryDirectory()
            try SandboxCertificates.write(
                into: directory.path, appId: Fixtures.appId, alipayKey: Fixtures.alipayKey.publicKey, appKey: Fixtures.appKey.publicKey)
            let made = ContentEncryptionKey.generate()
            key = made.key
            var configuration = Fixtures.configuration()
            configuration.certDir = directory.path
            configuration.encryptionKey = key
            configuration.requireEncryption = requireEncryption
            harness = try SandboxHarness(configuration)
            let folder = directory
            func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
            let mode = CertificateMode(
                appCertificate: try AlipayCertificate(contentsOfFile: path(SandboxCertificates.appFile(appId: Fixtures.appId)), role: .appCertificate),
                alipayCertificate: try AlipayCertificate(contentsOfFile: path(SandboxCertificates.alipayFile), role: .alipayCertificate),
                roots: try AlipayRootCertificates(contentsOfFile: path(SandboxCertificates.rootFile)))
            var configured = Fixtures.alipayConfiguration()
            configured.certificates = AlipayCertificateKeyring(mode: mode)
            configured.encryptionKey = made.key
            merchant = configured
        }

        func verifier(sn: String? = nil) -> ResponseVerifier {
            let key = sn.flatMap { merchant.certificates?.certificate(sn: $0)?.publicKey } ?? Fixtures.alipayKey.publicKey
            return ResponseVerifier(alipayPublicKey: key, encryptionKey: self.key)
        }

        func remove() { try? FileManager.default.removeItem(at: directory) }
    }

    static func node(_ response: TestResponse, method: String) throws -> [String: String] {
        let body = String(buffer: response.body)
        let raw = try #require(ResponseExtractor.rawNode(named: ResponseVerifier.responseKey(method: method), in: body), "\(body)")
        return try JSONDecoder().decode([String: String].self, from: Data(raw.utf8))
    }

    @Test func encryptedRequestsWithBothSNsAreAnsweredEncryptedWithTheCertificateSN() async throws {
        let setup = try Setup()
        defer { setup.remove() }
        let merchant = MerchantClient(signer: RequestSigner(configuration: setup.merchant))
        try await setup.harness.run { client in
            _ = try await merchant.openCashier(outTradeNo: "CM1", amount: "9.99", client: client)
            _ = try await setup.harness.sandbox.pay(outTradeNo: "CM1")
            let response = try await merchant.get(try merchant.parameters(TradeQuery(outTradeNo: "CM1")), client: client)
            let body = String(buffer: response.body)
            #expect(body.contains(#""alipay_trade_query_response":""#), "the node is the quoted ciphertext: \(body)")
            let sn = try #require(ResponseVerifier.alipayCertSN(in: Array(response.body.readableBytesView)))
            #expect(sn == setup.merchant.certificates?.current.sn)
            let outcome = setup.verifier().outcome(for: TradeQuery.self, httpStatus: 200, body: Array(response.body.readableBytesView))
            #expect(outcome.value?.tradeStatus == .tradeSuccess, "\(outcome)")
        }
    }

    @Test func wrongAppOrRootSNAndMissingEncryptionAreRefusedAsAlipayDoes() async throws {
        let setup = try Setup()
        defer { setup.remove() }
        let merchant = MerchantClient(signer: RequestSigner(configuration: setup.merchant))
        let keyMode = MerchantClient()
        try await setup.harness.run { client in
            _ = try await merchant.openCashier(outTradeNo: "CM2", client: client)
            let cases: [(String, [String: String], String, String)] = [
                ("app SN", ["app_cert_sn": "00000000000000000000000000000000"], "40002", "isv.app-cert-not-exist"),
                ("root SN", ["alipay_root_cert_sn": "00000000000000000000000000000000"], "40002", "isv.invalid-alipay-root-cert-sn"),
            ]
            for (label, change, code, subCode) in cases {
                // The merchant signs what it sends: a wrong SN is a signed request, refused for the SN alone.
                var unsigned = try merchant.parameters(TradeQuery(outTradeNo: "CM2"))
                unsigned["sign"] = nil
                unsigned.merge(change) { $1 }
                unsigned["sign"] = try Fixtures.appKey.sign(SignString.forRequest(unsigned), type: .rsa2)
                let fields = try Self.node(try await merchant.get(unsigned, client: client), method: TradeQuery.method)
                #expect(fields["code"] == code && fields["sub_code"] == subCode, "\(label): \(fields)")
            }
            // Public key mode against a certificate-mode app: no SNs at all.
            let noSN = try Self.node(try await keyMode.get(try keyMode.parameters(TradeQuery(outTradeNo: "CM2")), client: client), method: TradeQuery.method)
            #expect(noSN["sub_code"] == "isv.app-cert-not-exist", "\(noSN)")
            // Certificates right, encryption missing while the app requires it.
            var plain = setup.merchant
            plain.encryptionKey = nil
            let unencrypted = MerchantClient(signer: RequestSigner(configuration: plain))
            let fields = try Self.node(
                try await unencrypted.get(try unencrypted.parameters(TradeQuery(outTradeNo: "CM2")), client: client), method: TradeQuery.method)
            #expect(fields["code"] == "40001" && fields["sub_code"] == "isv.missing-encrypt-type", "\(fields)")
        }
    }

    @Test func rotationSignsWithTheNewCertificateWhichTheDownloadServes() async throws {
        let setup = try Setup(requireEncryption: false)
        defer { setup.remove() }
        var plain = setup.merchant
        plain.encryptionKey = nil
        let merchant = MerchantClient(signer: RequestSigner(configuration: plain))
        let first = try #require(setup.harness.sandbox.certificates?.signing.sn)
        let second = try #require(try setup.harness.sandbox.certificates?.rotate())
        #expect(first != second)
        try await setup.harness.run { client in
            let response = try await merchant.get(try merchant.parameters(AlipayCertDownload(alipayCertSN: second)), client: client)
            #expect(ResponseVerifier.alipayCertSN(in: Array(response.body.readableBytesView)) == second)
            let fields = try Self.node(response, method: AlipayCertDownload.method)
            let content = try #require(fields["alipay_cert_content"])
            let pem = String(decoding: try #require(Data(base64Encoded: content)), as: UTF8.self)
            let certificate = try AlipayCertificate(pem: pem, role: .alipayCertificate)
            #expect(certificate.sn == second)
            #expect(await setup.merchant.certificates?.mode.roots.chainProblem(certificate) == nil)
            // Signed with the new key: the old certificate's key no longer verifies it.
            let outcome = ResponseVerifier(alipayPublicKey: certificate.publicKey).outcome(
                for: AlipayCertDownload.self, httpStatus: 200, body: Array(response.body.readableBytesView))
            #expect(outcome.value != nil, "\(outcome)")
            let old = setup.verifier().outcome(for: AlipayCertDownload.self, httpStatus: 200, body: Array(response.body.readableBytesView))
            #expect(old.value == nil)

            let unknown = try Self.node(
                try await merchant.get(try merchant.parameters(AlipayCertDownload(alipayCertSN: "ffffffffffffffffffffffffffffffff")), client: client),
                method: AlipayCertDownload.method)
            #expect(unknown["code"] == "40004" && unknown["sub_code"] == "CERT_NOT_EXIST", "\(unknown)")
        }
    }

    @Test func returnAfterPaymentCarriesTheCertificateSNAndVerifiesWithTheCertificateKey() async throws {
        let setup = try Setup(requireEncryption: false)
        defer { setup.remove() }
        let merchant = MerchantClient(signer: RequestSigner(configuration: setup.merchant))
        try await setup.harness.run { client in
            let response = try await merchant.pay(outTradeNo: "RET1", amount: "1.00", client: client)
            let location = try #require(response.headers[.location], "a redirect to return_url")
            let query = String(try #require(location.split(separator: "?", maxSplits: 1).last))
            let sn = try #require(setup.merchant.certificates?.current.sn)
            #expect(query.contains("alipay_cert_sn=\(sn)"))
            let verifier = NotificationVerifier(
                alipayPublicKey: try #require(setup.merchant.certificates?.current.publicKey), appId: Fixtures.appId, alipayCertSN: sn)
            #expect(try verifier.verifyReturn(query: query).outTradeNo == "RET1")
        }
    }
}
