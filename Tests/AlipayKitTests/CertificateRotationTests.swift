import Foundation
import Synchronization
import Testing

@testable import AlipayKit

/// What the client does when an answer names an Alipay certificate it has not loaded: fetch it, trust it only once it
/// chains to the configured roots and verifies, or fail with the reason — against a real loopback gateway.
@Suite("Alipay certificate rotation in AlipayClient")
struct CertificateRotationTests {
    /// A certificate-mode world: the CA set (with its key, to issue rotated certificates), Alipay's first key and the app's.
    struct World {
        let files: CertificateIssuing.Files
        let alipayKey: RSAPrivateKey
        let keyring: AlipayCertificateKeyring

        init() throws {
            alipayKey = try Fixture.alipayPrivateKey()
            files = try CertificateIssuing.makeSet(alipayKey: alipayKey.publicKey, appKey: Fixture.appPublicKey(), appId: Fixture.appId)
            keyring = AlipayCertificateKeyring(
                mode: CertificateMode(
                    appCertificate: try AlipayCertificate(pem: files.appCertificate, role: .appCertificate),
                    alipayCertificate: try AlipayCertificate(pem: files.alipayCertificate, role: .alipayCertificate),
                    roots: try AlipayRootCertificates(pem: files.rootBundle)))
        }

        /// A new Alipay key and its certificate from this world's CA.
        func rotated() throws -> (key: RSAPrivateKey, pem: String, sn: String) {
            let key = try RSAPrivateKey.generate()
            let pem = try CertificateIssuing.issueAlipayCertificate(for: key.publicKey, caCertificatePEM: files.caCertificate, caPrivateKeyPEM: files.caPrivateKey)
            return (key, pem, try AlipayCertificate(pem: pem, role: .alipayCertificate).sn)
        }

        func configuration(gatewayURL: String) throws -> AlipayConfiguration {
            var configuration = try Fixture.configuration(gatewayURL: gatewayURL)
            configuration.certificates = keyring
            configuration.alipayPublicKey = keyring.current.publicKey
            return configuration
        }
    }

    static let query = #"{"code":"10000","msg":"Success","out_trade_no":"O1","trade_no":"T1","trade_status":"TRADE_SUCCESS","total_amount":"88.88"}"#

    /// The gateway: trade.query answered with `queryKey` and `querySN`; the download with `downloadKey` and `pem`.
    static func reply(
        queryKey: RSAPrivateKey, querySN: String, downloadKey: RSAPrivateKey, downloadSN: String, pem: String
    ) -> @Sendable (StubGateway.Received) -> StubGateway.Reply {
        let queryBody = (try? ResponseSigner.body(method: TradeQuery.method, responseJSON: query, key: queryKey, alipayCertSN: querySN)) ?? ""
        let content = Data(pem.utf8).base64EncodedString()
        let downloadBody =
            (try? ResponseSigner.body(
                method: AlipayCertDownload.method, responseJSON: #"{"code":"10000","msg":"Success","alipay_cert_content":"\#(content)"}"#,
                key: downloadKey, alipayCertSN: downloadSN)) ?? ""
        return { received in
            let form = (try? FormCodec.decode(received.body).dictionary) ?? [:]
            return .respond(status: 200, body: form["method"] == AlipayCertDownload.method ? downloadBody : queryBody)
        }
    }

    static func methods(_ gateway: StubGateway) -> [String] {
        gateway.received.compactMap { (try? FormCodec.decode($0.body).dictionary)?["method"] }
    }

    @Test("a new alipay_cert_sn is fetched once, checked, trusted, and the answer verified with it; requests carry both SNs")
    func adopts() async throws {
        let world = try World()
        let next = try world.rotated()
        let reply = Self.reply(queryKey: next.key, querySN: next.sn, downloadKey: next.key, downloadSN: next.sn, pem: next.pem)
        try await StubGateway.with(reply: reply) { gateway in
            let client = AlipayClient(configuration: try world.configuration(gatewayURL: gateway.url))
            for _ in 0..<2 {
                let outcome = await client.execute(TradeQuery(outTradeNo: "O1"))
                #expect(ResponseVerifierTests.kind(outcome) == "success", "\(outcome)")
            }
            #expect(Self.methods(gateway) == [TradeQuery.method, AlipayCertDownload.method, TradeQuery.method], "downloaded once")
            #expect(world.keyring.current.sn == next.sn)
            let first = try FormCodec.decode(try #require(gateway.received.first).body).dictionary
            #expect(first["app_cert_sn"] == world.keyring.appCertSN && first["alipay_root_cert_sn"] == world.keyring.rootCertSN)
            let download = try FormCodec.decode(gateway.received[1].body).dictionary
            #expect(download["biz_content"] == #"{"alipay_cert_sn":"\#(next.sn)"}"#)
        }
    }

    /// A trade notification as Alipay signs it in certificate mode: `alipay_cert_sn` names the signing certificate.
    static func notification(signedBy key: RSAPrivateKey, sn: String) throws -> [UInt8] {
        let parameters = [
            "notify_id": "rot-\(sn.prefix(6))", "notify_time": "2026-12-05 10:00:00", "notify_type": "trade_status_sync",
            "app_id": Fixture.appId, "trade_no": "2026120522001400000000000001", "out_trade_no": "O1", "trade_status": "TRADE_SUCCESS",
            "total_amount": "88.88", "charset": "utf-8", "version": "1.0", "sign_type": "RSA2", "alipay_cert_sn": sn,
        ]
        return Array(try NotificationSigner.signedBody(parameters, key: key).utf8)
    }

    @Test("a notification signed with Alipay's next certificate: refused until it is adopted, then verified; the adopter fetches it once, checked, and at most one download per interval")
    func notificationsAfterRotation() async throws {
        let world = try World()
        let next = try world.rotated()
        let configured = world.keyring.mode.alipayCertificate
        let verifier = NotificationVerifier(
            alipayPublicKey: configured.publicKey, appId: Fixture.appId, alipayCertSN: configured.sn, keyring: world.keyring)
        let before = try Self.notification(signedBy: world.alipayKey, sn: configured.sn)
        #expect(throws: Never.self) { try verifier.verify(body: before) }
        #expect(verifier.unknownCertificateSN(body: before) == nil)

        let after = try Self.notification(signedBy: next.key, sn: next.sn)
        #expect(throws: NotificationError.invalidSignature) { try verifier.verify(body: after) }
        #expect(verifier.unknownCertificateSN(body: after) == next.sn)
        // Signed with the next key but naming the configured SN: nothing to fetch, simply not authentic.
        let lying = try Self.notification(signedBy: next.key, sn: configured.sn)
        #expect(verifier.unknownCertificateSN(body: lying) == nil)
        // A verifier without a keyring (key mode) never asks for a certificate.
        let keyMode = NotificationVerifier(alipayPublicKey: configured.publicKey, appId: Fixture.appId)
        #expect(keyMode.unknownCertificateSN(body: after) == nil)

        let reply = Self.reply(queryKey: next.key, querySN: next.sn, downloadKey: next.key, downloadSN: next.sn, pem: next.pem)
        try await StubGateway.with(reply: reply) { gateway in
            let adopter = NotificationCertificateAdopter(client: AlipayClient(configuration: try world.configuration(gatewayURL: gateway.url)), minimumInterval: .seconds(3600))
            // A forged SN first: one download, refused; within the interval no other download starts, whatever the SN.
            let forged = String(repeating: "b", count: 32)
            guard case .failure = await adopter.adopt(sn: forged) else { Issue.record("a forged SN was adopted"); return }
            guard case .failure(let waited) = await adopter.adopt(sn: next.sn) else { Issue.record("adopted within the interval"); return }
            #expect(waited.description.contains("not fetched now"), "\(waited)")
            #expect(Self.methods(gateway) == [AlipayCertDownload.method])
            guard case .failure(let malformed) = await adopter.adopt(sn: "../../etc") else { Issue.record("a malformed SN was tried"); return }
            #expect(malformed.description.contains("32 lowercase hex"))
        }
        try await StubGateway.with(reply: reply) { gateway in
            let adopter = NotificationCertificateAdopter(client: AlipayClient(configuration: try world.configuration(gatewayURL: gateway.url)))
            guard case .success(let adopted) = await adopter.adopt(sn: next.sn) else { Issue.record("not adopted"); return }
            #expect(adopted.sn == next.sn && world.keyring.certificate(sn: next.sn) != nil)
            #expect(throws: Never.self) { try verifier.verify(body: after) }
            #expect(verifier.unknownCertificateSN(body: after) == nil)
            // Known now: no second download.
            guard case .success = await adopter.adopt(sn: next.sn) else { Issue.record("known certificate refused"); return }
            #expect(Self.methods(gateway) == [AlipayCertDownload.method])
            // The configured certificate still verifies what it signed.
            #expect(throws: Never.self) { try verifier.verify(body: before) }
        }
    }

    @Test("forged SNs seen once cannot keep the SN seen most often from its download; a failed SN is not tried again")
    func mostSeenSNGoesFirst() async throws {
        let world = try World()
        let next = try world.rotated()
        let reply = Self.reply(queryKey: next.key, querySN: next.sn, downloadKey: next.key, downloadSN: next.sn, pem: next.pem)
        try await StubGateway.with(reply: reply) { gateway in
            let clock = Mutex(ContinuousClock.now)
            let adopter = NotificationCertificateAdopter(
                client: AlipayClient(configuration: try world.configuration(gatewayURL: gateway.url)), minimumInterval: .seconds(5),
                now: { clock.withLock { $0 } })
            func downloads() -> [String] {
                gateway.received.compactMap { try? FormCodec.decode($0.body).dictionary["biz_content"] }
            }
            // An attacker's first forged SN takes the first download (nothing else was seen): refused, remembered.
            let forged = (0..<40).map { String(format: "%032x", 0xF00D_0000 + $0) }
            guard case .failure = await adopter.adopt(sn: forged[0]) else { Issue.record("a forged SN was adopted"); return }
            #expect(downloads() == [#"{"alipay_cert_sn":"\#(forged[0])"}"#])
            // Within the interval: Alipay's real SN arrives three times, forged ones once each; nothing is downloaded.
            for index in 1..<20 {
                if index % 6 == 0 { _ = await adopter.adopt(sn: next.sn) }
                guard case .failure = await adopter.adopt(sn: forged[index]) else { Issue.record("adopted within the interval"); return }
            }
            #expect(downloads().count == 1)
            // The interval over, whichever request comes next (a forged one here) makes the most-seen SN's turn.
            clock.withLock { $0 += .seconds(6) }
            _ = await adopter.adopt(sn: forged[20])
            #expect(downloads().last == #"{"alipay_cert_sn":"\#(next.sn)"}"#, "\(downloads())")
            #expect(world.keyring.certificate(sn: next.sn) != nil)
            // The first forged SN, refused, is not downloaded again even when it comes back often.
            clock.withLock { $0 += .seconds(6) }
            for _ in 0..<5 { _ = await adopter.adopt(sn: forged[0]) }
            #expect(!downloads().dropFirst().contains(#"{"alipay_cert_sn":"\#(forged[0])"}"#), "\(downloads())")
        }
    }

    @Test("a certificate that does not chain, has another SN or subject, is the app's own, or does not verify its download is never adopted; the job's call is transient, the operator's download a configuration error")
    func refuses() async throws {
        let world = try World()
        let next = try world.rotated()
        // Another CA entirely: its Alipay certificate chains to its own root only.
        let stranger = try RSAPrivateKey.generate()
        let foreign = try CertificateIssuing.makeSet(alipayKey: stranger.publicKey, appKey: Fixture.appPublicKey(), appId: Fixture.appId)
        let foreignSN = try AlipayCertificate(pem: foreign.alipayCertificate, role: .alipayCertificate).sn
        // The app's own certificate: same CA, so it chains; whoever holds the app key could sign answers with it.
        let appSN = try AlipayCertificate(pem: world.files.appCertificate, role: .appCertificate).sn
        let appKey = try Fixture.appPrivateKey()
        let cases: [(String, @Sendable (StubGateway.Received) -> StubGateway.Reply, String)] = [
            (
                "foreign CA with look-alike names", Self.reply(queryKey: stranger, querySN: foreignSN, downloadKey: stranger, downloadSN: foreignSN, pem: foreign.alipayCertificate),
                "does not chain to alipay.rootCertFile"
            ),
            ("the app's own certificate", Self.reply(queryKey: appKey, querySN: appSN, downloadKey: appKey, downloadSN: appSN, pem: world.files.appCertificate), "not adopted"),
            (
                "other SN", Self.reply(queryKey: next.key, querySN: String(repeating: "a", count: 32), downloadKey: next.key, downloadSN: next.sn, pem: next.pem),
                "has SN \(next.sn) instead"
            ),
            (
                "download signed by another key", Self.reply(queryKey: next.key, querySN: next.sn, downloadKey: world.alipayKey, downloadSN: next.sn, pem: next.pem),
                "does not verify with the downloaded certificate"
            ),
            ("a malformed SN", Self.reply(queryKey: next.key, querySN: "not-an-sn", downloadKey: next.key, downloadSN: next.sn, pem: next.pem), "not 32 lowercase hex"),
        ]
        for (label, reply, expected) in cases {
            try await StubGateway.with(reply: reply) { gateway in
                let client = AlipayClient(configuration: try world.configuration(gatewayURL: gateway.url))
                let outcome = await client.execute(TradeQuery(outTradeNo: "O1"))
                guard case .retryable(let reason) = outcome else {
                    Issue.record("\(label): expected a transient failure, got \(outcome)")
                    return
                }
                #expect(reason.contains(expected), "\(label): \(reason)")
                #expect(world.keyring.current.sn == world.keyring.mode.alipayCertificate.sn, "\(label): nothing adopted")
                // A second answer naming the same SN within the minute costs no second download.
                let downloads = Self.methods(gateway).filter { $0 == AlipayCertDownload.method }.count
                _ = await client.execute(TradeQuery(outTradeNo: "O1"))
                #expect(Self.methods(gateway).filter { $0 == AlipayCertDownload.method }.count == downloads, "\(label)")
            }
        }
        // The operator's own download (notifyctl certs download) of a certificate that is not Alipay's: configuration.
        try await StubGateway.with(reply: Self.reply(queryKey: appKey, querySN: appSN, downloadKey: appKey, downloadSN: appSN, pem: world.files.appCertificate)) {
            gateway in
            let client = AlipayClient(configuration: try world.configuration(gatewayURL: gateway.url))
            guard case .failure(.configuration(let reason)) = await client.adoptRotatedCertificate(sn: appSN) else {
                Issue.record("expected a configuration failure")
                return
            }
            #expect(reason.contains("not adopted"))
        }
    }

    @Test("with content encryption on, the trade calls are encrypted and page pay and the certificate download are not")
    func encryptionIsPerRequest() throws {
        var configuration = try Fixture.configuration()
        configuration.encryptionKey = ContentEncryptionKey.generate().key
        let signer = RequestSigner(configuration: configuration)
        #expect(try signer.signedParameters(TradeQuery(outTradeNo: "O1"))["encrypt_type"] == "AES")
        #expect(try signer.signedParameters(TradeClose(outTradeNo: "O1"))["encrypt_type"] == "AES")
        let page = try signer.signedParameters(TradePagePay(outTradeNo: "O1", totalAmount: Amount(fen: 100), subject: "S"))
        #expect(page["encrypt_type"] == nil && page["biz_content"]?.hasPrefix("{") == true)
        #expect(try signer.pagePayURL(TradePagePay(outTradeNo: "O1", totalAmount: Amount(fen: 100), subject: "S")).contains("encrypt_type") == false)
        #expect(try signer.signedParameters(AlipayCertDownload(alipayCertSN: String(repeating: "a", count: 32)))["encrypt_type"] == nil)
    }
}
