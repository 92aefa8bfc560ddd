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
        /// SNs that could not be adopted, with when and why: not fetched again for a minute, so that a burst of
        /// answers naming one unknown SN (or a forged one) costs one download, not one each.
        var failures: [String: (at: ContinuousClock.Instant, reason: String)] = [:]
    }

    /// How long a failed adoption is remembered.
    static let failureMemory: Duration = .seconds(60)

    /// Why `sn` could not be adopted, if that was less than a minute ago.
    func recentFailure(sn: String) -> String? {
        state.withLock { state in
            guard let failure = state.failures[sn], ContinuousClock.now - failure.at < Self.failureMemory else { return nil }
            return failure.reason
        }
    }

    /// Remembers that `sn` could not be adopted (at most 64 SNs are kept).
    func recordFailure(sn: String, reason: String) {
        state.withLock { state in
            if state.failures.count >= 64 { state.failures.removeAll() }
            state.failures[sn] = (ContinuousClock.now, reason)
        }
    }

    /// Whether Alipay's certificate in use is no longer the configured `alipay.certFile` (a rotation was adopted).
    public var isRotated: Bool { state.withLock { $0.current.sn != mode.alipayCertificate.sn } }

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
        // Several calls may have fetched the same certificate at once: the first one adopts it, the others change nothing.
        let previous = state.withLock { state -> String? in
            guard state.known[certificate.sn] == nil else { return nil }
            let previous = state.current.sn
            state.known[certificate.sn] = certificate
            state.current = certificate
            state.failures[certificate.sn] = nil
            return previous
        }
        guard let previous else { return }
        logger.warning(
            "Alipay rotated its certificate: responses now carry a new alipay_cert_sn; fetched with alipay.open.app.alipaycert.download and checked against alipay.rootCertFile",
            metadata: [
                "previous_sn": "\(previous)", "sn": "\(certificate.sn)", "subject": "\(certificate.subject)",
                "not_valid_after": "\(certificate.notValidAfter)",
                "action": "install it as alipay.certFile on every host (notifyctl certs download --out FILE) so that notifications signed with it verify",
            ])
    }
}
