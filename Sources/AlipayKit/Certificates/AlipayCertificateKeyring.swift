import Foundation
import Logging
import Synchronization

/// The certificates of certificate mode, shared by every call of one process: the configured files, and the Alipay
/// certificate Alipay rotated to since start-up (fetched with `alipay.open.app.alipaycert.download` and checked to
/// chain to the configured roots before it is trusted).
public final class AlipayCertificateKeyring: Sendable {
    /// The configured files.
    public let mode: CertificateMode
    private let state: Mutex<State>
    private let logger = Logger(label: "alipay-notify.certificates")

    private struct State {
        var current: AlipayCertificate
        var known: [String: AlipayCertificate]
    }

    /// A keyring starting from the configured files.
    public init(mode: CertificateMode) {
        self.mode = mode
        self.state = Mutex(State(current: mode.alipayCertificate, known: [mode.alipayCertificate.sn: mode.alipayCertificate]))
    }

    /// `app_cert_sn`.
    public var appCertSN: String { mode.appCertSN }
    /// `alipay_root_cert_sn`.
    public var rootCertSN: String { mode.rootCertSN }

    /// The Alipay certificate responses are expected to carry: the configured one until Alipay rotates.
    public var current: AlipayCertificate { state.withLock { $0.current } }

    /// A certificate already trusted under `sn` (the configured one, or one fetched and checked before).
    public func certificate(sn: String) -> AlipayCertificate? {
        state.withLock { $0.known[sn] }
    }

    /// Trusts `certificate` (already checked against the roots) and makes it the current one.
    func adopt(_ certificate: AlipayCertificate) {
        let previous = state.withLock { state -> String in
            let previous = state.current.sn
            state.known[certificate.sn] = certificate
            state.current = certificate
            return previous
        }
        logger.warning(
            "Alipay rotated its certificate: responses now carry a new alipay_cert_sn; fetched with alipay.open.app.alipaycert.download and checked against alipay.rootCertFile",
            metadata: [
                "previous_sn": "\(previous)", "sn": "\(certificate.sn)", "subject": "\(certificate.subject)",
                "not_valid_after": "\(certificate.notValidAfter)",
                "action": "install it as alipay.certFile on every host (notifyctl certs download --out FILE) so that notifications signed with it verify",
            ])
    }
}
