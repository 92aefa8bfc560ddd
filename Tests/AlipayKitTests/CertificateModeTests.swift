import Foundation
import Testing

@testable import AlipayKit

/// Tests/AlipayKitTests/Fixtures/certificates/vectors.json, made by scripts/vectors/make_certificate_vectors.py with
/// fzlee's python-alipay-sdk (`DCAliPay.get_cert_sn`, `get_root_cert_sn`) and re-checked with `cryptography`.
struct CertificateVectors: Decodable {
    struct File: Decodable {
        let file: String
        let kind: String
        let certSN: String?
        let rootCertSN: String?
        let publicKeyFile: String?
        let certificates: [Entry]
        enum CodingKeys: String, CodingKey {
            case file, kind, certificates
            case certSN = "cert_sn", rootCertSN = "root_cert_sn", publicKeyFile = "public_key_file"
        }
    }
    struct Entry: Decodable {
        let rsaSigned: Bool
        let issuer: String?
        let serialDecimal: String?
        let sn: String?
        enum CodingKeys: String, CodingKey {
            case rsaSigned = "rsa_signed", issuer, serialDecimal = "serial_decimal", sn
        }
    }
    let files: [File]

    static func load() throws -> CertificateVectors {
        try JSONDecoder().decode(CertificateVectors.self, from: Fixture.data("certificates/vectors.json"))
    }

    static func pem(_ file: String) throws -> String { try Fixture.text("certificates/\(file)") }
}

@Suite("Certificate mode: SNs byte-identical to Alipay's SDKs, chains, and files an operator mixes up")
struct CertificateModeTests {
    @Test("alipay_root_cert_sn of each root bundle: RSA-signed roots only, in file order, joined by '_' (Alipay's production bundle included)")
    func rootSNs() throws {
        let bundles = try CertificateVectors.load().files.filter { $0.kind == "root_bundle" }
        #expect(bundles.contains { $0.file == "alipay_production_root.crt" }, "the vectors must include Alipay's real root bundle")
        for bundle in bundles {
            let roots = try AlipayRootCertificates(pem: CertificateVectors.pem(bundle.file))
            #expect(roots.sn == bundle.rootCertSN, "\(bundle.file)")
            #expect(roots.skipped == bundle.certificates.filter { !$0.rsaSigned }.count, "\(bundle.file): the non-RSA roots are skipped")
        }
        // The value every Alipay integration in production sends.
        let production = try AlipayRootCertificates(pem: CertificateVectors.pem("alipay_production_root.crt"))
        #expect(production.sn == "687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6")
    }

    @Test("app_cert_sn and alipay_cert_sn: MD5 of the RFC 2253 issuer and the decimal serial, for the file's first certificate")
    func certificateSNs() throws {
        for file in try CertificateVectors.load().files where file.kind != "root_bundle" {
            let certificate = try AlipayCertificate(pem: CertificateVectors.pem(file.file), role: .alipayCertificate)
            #expect(certificate.sn == file.certSN, "\(file.file)")
            let key = try RSAPublicKey(pemOrBase64: Fixture.text(try #require(file.publicKeyFile)))
            #expect(certificate.publicKey.base64DER == key.base64DER, "\(file.file) carries its key")
            // Every certificate of the file, the issuing CA too, renders the issuer and serial as the SDK does.
            let all = [certificate.certificate] + certificate.intermediates
            for (entry, parsed) in zip(file.certificates, all) {
                #expect(CertificateSN.issuerName(parsed.issuer) == entry.issuer)
                #expect(CertificateSN.decimal(parsed.serialNumber.bytes) == entry.serialDecimal)
                #expect(CertificateSN.of(parsed) == entry.sn)
            }
        }
    }

    @Test("serial numbers of any length in decimal", arguments: [
        ([UInt8](), "0"), ([0x00], "0"), ([0x07], "7"), ([0x00, 0xFF], "255"), ([0x01, 0x00], "256"),
        ([0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], "9223372036854775807"),
        ([0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], "18446744073709551616"),
    ])
    func decimal(bytes: [UInt8], expected: String) {
        #expect(CertificateSN.decimal(bytes[...]) == expected)
    }

    @Test("a certificate chains to the configured roots through its file's intermediate; not to other roots, not after it expires")
    func chains() async throws {
        let roots = try AlipayRootCertificates(pem: CertificateVectors.pem("alipayRootCert.crt"))
        let alipay = try AlipayCertificate(pem: CertificateVectors.pem("alipayCertPublicKey_RSA2.crt"), role: .alipayCertificate)
        #expect(await roots.chainProblem(alipay, at: Date(timeIntervalSince1970: 1_900_000_000)) == nil)
        let production = try AlipayRootCertificates(pem: CertificateVectors.pem("alipay_production_root.crt"))
        #expect(await production.chainProblem(alipay) != nil, "a certificate of another CA must not be trusted")
        #expect(await roots.chainProblem(alipay, at: Date(timeIntervalSince1970: 2_500_000_000)) != nil, "expired (2049)")
        // Alone, without the issuing CA that follows it in the file, the leaf has no path to the root.
        let leafOnly = try AlipayCertificate(pem: alipay.certificate.serializeAsPEM().pemString, role: .alipayCertificate)
        #expect(await roots.chainProblem(leafOnly) != nil)
    }

    @Test("the sandbox's issued set has Alipay's shape: two roots (one skipped), chains that verify, SNs the files agree on")
    func issuedSet() async throws {
        let files = try CertificateIssuing.makeSet(alipayKey: Fixture.alipayPublicKey(), appKey: Fixture.appPublicKey(), appId: Fixture.appId)
        let roots = try AlipayRootCertificates(pem: files.rootBundle)
        #expect(roots.skipped == 1)
        #expect(!roots.sn.contains("_"))
        let alipay = try AlipayCertificate(pem: files.alipayCertificate, role: .alipayCertificate)
        let app = try AlipayCertificate(pem: files.appCertificate, role: .appCertificate)
        #expect(await roots.chainProblem(alipay) == nil)
        #expect(await roots.chainProblem(app) == nil)
        #expect(alipay.publicKey.base64DER == (try Fixture.alipayPublicKey()).base64DER)
        let rotated = try CertificateIssuing.issueAlipayCertificate(
            for: try RSAPrivateKey.generate().publicKey, caCertificatePEM: files.caCertificate, caPrivateKeyPEM: files.caPrivateKey)
        let next = try AlipayCertificate(pem: rotated, role: .alipayCertificate)
        #expect(next.sn != alipay.sn)
        #expect(await roots.chainProblem(next) == nil)
    }

    @Test("the wrong file gets an error that names what was found, and never repeats key material", arguments: [
        ("keys/alipay_public.pem", "a public key"),
        ("keys/app_private_pkcs8.pem", "a private key"),
        ("keys/app_public_pkcs1.pem", "a public key"),
    ])
    func wrongFiles(path: String, expected: String) throws {
        let text = try Fixture.text(path)
        let error = #expect(throws: CertificateError.self) { try AlipayCertificate(pem: text, role: .alipayCertificate) }
        #expect(error?.description.contains(expected) == true, "\(error?.description ?? "")")
        let body = Fixture.bareBase64(text)
        #expect(error?.description.contains(body.prefix(24)) == false)
        let garbage = #expect(throws: CertificateError.self) { try AlipayCertificate(pem: "MIIBIjANBgkqhkiG9w0B", role: .appCertificate) }
        #expect(garbage?.description == "app public key certificate: found no 'BEGIN CERTIFICATE' block where a certificate file (.crt, PEM) belongs")
    }

    @Test("a root file without any RSA-signed certificate has no alipay_root_cert_sn")
    func onlyECRoots() throws {
        let bundle = try CertificateVectors.pem("alipayRootCert.crt")
        let blocks = bundle.components(separatedBy: "-----END CERTIFICATE-----").map { $0 + "-----END CERTIFICATE-----" }
        let ecOnly = try #require(blocks.first { block in
            (try? AlipayRootCertificates(pem: block)) == nil && block.contains("BEGIN CERTIFICATE")
        })
        let error = #expect(throws: CertificateError.self) { try AlipayRootCertificates(pem: ecOnly) }
        #expect(error?.problem.contains("no RSA-signed certificate") == true)
    }

    @Test("a public key where a certificate belongs, and a certificate where a public key belongs, point at the other mode")
    func modesPointAtEachOther() throws {
        let certificate = try CertificateVectors.pem("alipayCertPublicKey_RSA2.crt")
        let keyError = #expect(throws: KeyError.self) { try RSAPublicKey(pemOrBase64: certificate) }
        #expect(keyError?.problem.contains("alipay.certFile") == true)
        let certificateError = #expect(throws: CertificateError.self) {
            try AlipayCertificate(pem: Fixture.key("alipay_public.pem"), role: .alipayCertificate)
        }
        #expect(certificateError?.problem.contains("alipay.publicKeyFile") == true)
    }

    @Test("notifyctl verify on a notification signed after a rotation names the new SN and the command that fetches it")
    func rotatedNotificationDiagnosis() throws {
        let configured = try AlipayCertificate(pem: CertificateVectors.pem("alipayCertPublicKey_RSA2.crt"), role: .alipayCertificate)
        let verifier = NotificationVerifier(alipayPublicKey: configured.publicKey, appId: Fixture.appId, alipayCertSN: configured.sn)
        let rotatedKey = try RSAPrivateKey.generate()
        let body = try NotificationSigner.signedBody(
            [
                "notify_id": "n1", "notify_type": "trade_status_sync", "notify_time": "2026-12-05 10:00:00", "app_id": Fixture.appId,
                "charset": "utf-8", "version": "1.0", "trade_no": "T1", "out_trade_no": "C1", "trade_status": "TRADE_SUCCESS",
                "total_amount": "1.00", "alipay_cert_sn": "0123456789abcdef0123456789abcdef",
            ], key: rotatedKey)
        let inspection = verifier.inspect(body: Array(body.utf8), appPublicKey: nil)
        #expect(!inspection.isValid)
        let finding = try #require(inspection.diagnosis.first { $0.code == .otherAlipayCertificate }, "\(inspection.diagnosis)")
        #expect(finding.message.contains("notifyctl certs download --sn 0123456789abcdef0123456789abcdef"))
        // alipay_cert_sn is outside the signed string: the same notification under the configured key verifies.
        let genuine = try NotificationSigner.signedBody(
            ["notify_id": "n2", "notify_type": "trade_status_sync", "notify_time": "2026-12-05 10:00:00", "app_id": Fixture.appId,
             "charset": "utf-8", "version": "1.0", "trade_no": "T2", "out_trade_no": "C2", "trade_status": "TRADE_SUCCESS",
             "total_amount": "1.00", "alipay_cert_sn": configured.sn], key: try Fixture.alipayPrivateKey())
        #expect(try verifier.verify(body: Array(genuine.utf8)).outTradeNo == "C2")
    }
}
