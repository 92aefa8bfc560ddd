import AlipayKit
import ArgumentParser
import Foundation
import NotifyCore

/// `notifyctl certs …`: the certificates of certificate mode (公钥证书模式).
struct Certs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs", abstract: "Show the certificate-mode files, or download Alipay's new certificate after a rotation.",
        subcommands: [Show.self, Download.self])

    /// `notifyctl certs show [--json]`.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print subject, issuer, SN and validity of the app, Alipay and root certificates (exit 2 when not in certificate mode).")

        @OptionGroup var options: ConfigOptions

        @Flag(name: .long, help: "Print [{\"file\",\"key\",\"role\",\"subject\",\"issuer\",\"sn\",\"not_before\",\"not_after\",\"days_left\"}].")
        var json = false

        func run() async throws {
            try await reporting {
                let settings = try await options.load()
                let mode = try Certs.loadMode(settings)
                let now = Date()
                var rows = [
                    CertificateRow(mode.appCertificate.summary, key: "alipay.appCertFile", file: settings.alipay.appCertFile, role: "app", now: now),
                    CertificateRow(mode.alipayCertificate.summary, key: "alipay.certFile", file: settings.alipay.certFile, role: "alipay", now: now),
                ]
                for root in mode.roots.summaries {
                    rows.append(CertificateRow(root, key: "alipay.rootCertFile", file: settings.alipay.rootCertFile, role: "root", now: now))
                }
                if json {
                    try printJSON(rows)
                    return
                }
                print("app_cert_sn          \(mode.appCertSN)")
                print("alipay_cert_sn       \(mode.alipayCertificate.sn)")
                print("alipay_root_cert_sn  \(mode.rootCertSN)\(mode.roots.skipped > 0 ? "  (\(mode.roots.skipped) root(s) not RSA-signed, left out)" : "")")
                print("")
                print(
                    renderTable(
                        ["role", "subject", "sn", "not_after", "days_left"],
                        rows.map { [$0.role, $0.subject, $0.sn ?? "(not RSA-signed: not in the SN)", $0.notAfter, "\($0.daysLeft)"] }))
            }
        }
    }

    /// `notifyctl certs download --sn SN --out FILE`.
    struct Download: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch Alipay's certificate SN (alipay.open.app.alipaycert.download), check it chains to alipay.rootCertFile, and write it.",
            discussion: """
                After Alipay rotates its certificate the worker logs the new alipay_cert_sn and verifies answers with it; the
                receiver keeps the configured alipay.certFile until it is replaced. Write the new one, point alipay.certFile
                (ALIPAY_CERT_FILE) at it on every host, restart the receivers: docs/alipay-protocol.md, "Certificate rotation".
                """)

        @OptionGroup var options: ConfigOptions

        @Option(name: .long, help: "The alipay_cert_sn to fetch (from the worker's log or metrics).")
        var sn: String

        @Option(name: .long, help: "File to write the certificate chain (PEM) to.")
        var out: String

        @Flag(name: .long, help: "Overwrite an existing file.")
        var force = false

        func run() async throws {
            try await reporting {
                let settings = try await options.load()
                _ = try Certs.loadMode(settings)
                if !force, FileManager.default.fileExists(atPath: out) {
                    throw CLIFailure.configuration("\(out) exists; refusing to overwrite it (use --force to replace it)")
                }
                let alipay: AlipayConfiguration
                do {
                    alipay = try settings.alipayConfiguration()
                } catch {
                    throw CLIFailure.configuration("\(error)")
                }
                let result = try await AlipayClient.withDedicatedHTTPClient(configuration: alipay) { client in
                    await client.adoptRotatedCertificate(sn: sn)
                }
                switch result {
                case .success(let certificate):
                    try writeFile(certificate.pem, to: out, mode: 0o644)
                    print("wrote \(out): \(certificate.subject), SN \(certificate.sn), valid until \(OrderView.timestamp(certificate.notValidAfter))")
                    print("it chains to alipay.rootCertFile; set ALIPAY_CERT_FILE=\(out) (alipay.certFile) on every host and restart the receivers")
                case .failure(.configuration(let reason)):
                    throw CLIFailure.configuration(reason)
                case .failure(.retryable(let reason)):
                    throw CLIFailure.failed(reason)
                }
            }
        }
    }

    static func loadMode(_ settings: NotifyConfiguration) throws -> CertificateMode {
        guard settings.isCertificateMode else {
            throw CLIFailure.configuration(
                "not in certificate mode: alipay.appCertFile, alipay.certFile and alipay.rootCertFile (ALIPAY_APP_CERT_FILE, ALIPAY_CERT_FILE, ALIPAY_ROOT_CERT_FILE) are not set")
        }
        do {
            return try settings.loadCertificateMode()
        } catch {
            throw CLIFailure.configuration("\(error)")
        }
    }
}

/// One line of `notifyctl certs show`.
struct CertificateRow: Encodable {
    var file: String?
    var key: String
    var role: String
    var subject: String
    var issuer: String
    /// nil for a root that is not RSA-signed: not part of alipay_root_cert_sn.
    var sn: String?
    var notBefore: String
    var notAfter: String
    var daysLeft: Int

    init(_ certificate: CertificateSummary, key: String, file: String?, role: String, now: Date) {
        self.file = file
        self.key = key
        self.role = role
        subject = certificate.subject
        issuer = certificate.issuer
        sn = certificate.sn
        notBefore = OrderView.timestamp(certificate.notValidBefore)
        notAfter = OrderView.timestamp(certificate.notValidAfter)
        daysLeft = Int(certificate.notValidAfter.timeIntervalSince(now) / 86_400)
    }

    enum CodingKeys: String, CodingKey {
        case file, key, role, subject, issuer, sn
        case notBefore = "not_before", notAfter = "not_after", daysLeft = "days_left"
    }
}
