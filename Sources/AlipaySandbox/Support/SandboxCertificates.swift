import AlipayKit
import Foundation
import Synchronization

/// The sandbox's certificate mode (公钥证书模式): the set `alipay-sandbox certs --dir DIR` wrote, the Alipay key and
/// certificate it signs with now, and every Alipay certificate it has issued (served by
/// `alipay.open.app.alipaycert.download`, rotated through the control API).
public final class SandboxCertificates: Sendable {
    /// Alipay's roots, as the console names the file.
    public static let rootFile = "alipayRootCert.crt"
    /// Alipay's certificate and its issuing CA.
    public static let alipayFile = "alipayCertPublicKey_RSA2.crt"
    /// The issuing CA's certificate and key: the sandbox issues a rotated Alipay certificate with them.
    public static let caFile = "sandbox-ca.crt"
    /// The issuing CA's private key (mode 0600).
    public static let caKeyFile = "sandbox-ca.key"
    /// The app's certificate.
    public static func appFile(appId: String) -> String { "appCertPublicKey_\(appId).crt" }

    /// `app_cert_sn` every request must carry.
    public let appCertSN: String
    /// `alipay_root_cert_sn` every request must carry.
    public let rootCertSN: String
    private let caCertificatePEM: String
    private let caPrivateKeyPEM: String
    private let state: Mutex<State>

    private struct State {
        var key: RSAPrivateKey
        var sn: String
        var issued: [String: String]
    }

    /// Writes a set for `appId` into `directory` (created if needed): roots, CA, Alipay's certificate for the
    /// sandbox's key, the app's for the merchant's key. Refuses to overwrite unless `force`; returns the paths.
    @discardableResult
    public static func write(
        into directory: String, appId: String, alipayKey: RSAPublicKey, appKey: RSAPublicKey, force: Bool = false
    ) throws(SandboxError) -> [String] {
        let manager = FileManager.default
        do {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .keyFiles(directory: directory, problem: "cannot create it (\(error.localizedDescription))")
        }
        let names = [rootFile, alipayFile, appFile(appId: appId), caFile, caKeyFile]
        let paths = names.map { (directory as NSString).appendingPathComponent($0) }
        if !force, let existing = paths.first(where: manager.fileExists(atPath:)) {
            throw .keyFiles(directory: directory, problem: "\(existing) already exists; pass --force to replace the certificates")
        }
        let files: CertificateIssuing.Files
        do {
            files = try CertificateIssuing.makeSet(alipayKey: alipayKey, appKey: appKey, appId: appId)
        } catch {
            throw .keyFiles(directory: directory, problem: "cannot issue the certificates (\(error))")
        }
        let contents = [files.rootBundle, files.alipayCertificate, files.appCertificate, files.caCertificate, files.caPrivateKey]
        for (path, text) in zip(paths, contents) {
            let isPrivate = path == paths[4]
            guard SandboxFiles.write(text, to: path, mode: isPrivate ? 0o600 : 0o644) else {
                throw .keyFiles(directory: directory, problem: "cannot write \(path)")
            }
        }
        return paths
    }

    /// Reads the set in `directory`, checking that Alipay's certificate carries `alipayPrivateKey`'s public key and
    /// the app's carries `appPublicKey`.
    public init(directory: String, appId: String, alipayPrivateKey: RSAPrivateKey, appPublicKey: RSAPublicKey) throws(SandboxError) {
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        func problem(_ text: String) -> SandboxError { .invalidConfiguration(key: "sandbox.certDir", problem: text) }
        func read(_ name: String) throws(SandboxError) -> String {
            guard let text = try? String(contentsOfFile: path(name), encoding: .utf8) else {
                throw problem("cannot read \(path(name)); make the set with `alipay-sandbox certs --dir \(directory)`")
            }
            return text
        }
        let alipayPEM = try read(Self.alipayFile)
        do {
            let alipay = try AlipayCertificate(pem: alipayPEM, role: .alipayCertificate)
            let app = try AlipayCertificate(pem: try read(Self.appFile(appId: appId)), role: .appCertificate)
            let roots = try AlipayRootCertificates(pem: try read(Self.rootFile))
            guard alipay.publicKey.base64DER == alipayPrivateKey.publicKey.base64DER else {
                throw problem("\(Self.alipayFile) does not carry the public key of sandbox.alipayPrivateKeyFile")
            }
            guard app.publicKey.base64DER == appPublicKey.base64DER else {
                throw problem("\(Self.appFile(appId: appId)) does not carry sandbox.appPublicKeyFile")
            }
            appCertSN = app.sn
            rootCertSN = roots.sn
            caCertificatePEM = try read(Self.caFile)
            caPrivateKeyPEM = try read(Self.caKeyFile)
            state = Mutex(State(key: alipayPrivateKey, sn: alipay.sn, issued: [alipay.sn: alipayPEM]))
        } catch let error as SandboxError {
            throw error
        } catch {
            throw problem("\(error)")
        }
    }

    /// The key answers, notifications and returns are signed with now, and its certificate's SN (`alipay_cert_sn`).
    public var signing: (key: RSAPrivateKey, sn: String) { state.withLock { ($0.key, $0.sn) } }

    /// The PEM (certificate, then CA) of an Alipay certificate the sandbox has issued; nil for an unknown SN.
    public func certificatePEM(sn: String) -> String? { state.withLock { $0.issued[sn] } }

    /// Alipay rotates its certificate: a new key and certificate from the same CA sign everything from now on.
    /// Returns the new `alipay_cert_sn`.
    public func rotate() throws -> String {
        let key = try RSAPrivateKey.generate()
        let pem = try CertificateIssuing.issueAlipayCertificate(for: key.publicKey, caCertificatePEM: caCertificatePEM, caPrivateKeyPEM: caPrivateKeyPEM)
        let sn = try AlipayCertificate(pem: pem, role: .alipayCertificate).sn
        state.withLock {
            $0.key = key
            $0.sn = sn
            $0.issued[sn] = pem
        }
        return sn
    }
}
