import AlipayKit
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// Certificate mode: `alipay_notify_certificate_expiry_seconds{certificate}` — seconds until the app's certificate,
/// Alipay's (the one answers are signed with now, a rotated one included) and the earliest-expiring root expire —
/// set at start and every `interval`; a warning is logged once a day inside the last 30 days (the alert's horizon).
public struct CertificateExpiry: Service {
    /// The certificates of this process.
    public let keyring: AlipayCertificateKeyring
    /// Between two refreshes.
    public let interval: Duration
    /// Where the warnings go.
    public let logger: Logger
    private let factory: any MetricsFactory

    /// A refresher through `factory` (the process-wide one by default).
    public init(keyring: AlipayCertificateKeyring, interval: Duration = .seconds(60), logger: Logger, factory: (any MetricsFactory)? = nil) {
        self.keyring = keyring
        self.interval = interval
        self.logger = logger
        self.factory = factory ?? MetricsSystem.factory
    }

    /// The end of validity of each certificate of the mode: `app`, `alipay`, `root` (the earliest counted root).
    public static func expiries(_ keyring: AlipayCertificateKeyring) -> [(certificate: String, notValidAfter: Date)] {
        var result = [("app", keyring.mode.appCertificate.notValidAfter), ("alipay", keyring.current.notValidAfter)]
        if let root = keyring.mode.roots.summaries.filter({ $0.sn != nil }).map(\.notValidAfter).min() { result.append(("root", root)) }
        return result
    }

    /// Sets the gauges now; returns the certificates within 30 days of expiry.
    @discardableResult
    public func refresh(now: Date = Date()) -> [String] {
        var expiring: [String] = []
        for (certificate, notValidAfter) in Self.expiries(keyring) {
            let seconds = notValidAfter.timeIntervalSince(now)
            Gauge(label: "alipay_notify_certificate_expiry_seconds", dimensions: [("certificate", certificate)], factory: factory).record(seconds)
            if seconds < 30 * 86_400 { expiring.append(certificate) }
        }
        // 1 once the worker adopted a rotated Alipay certificate that alipay.certFile does not hold yet: the receivers
        // refuse notifications signed with it until it is installed.
        Gauge(label: "alipay_notify_certificate_rotation_pending", factory: factory).record(keyring.isRotated ? 1 : 0)
        return expiring
    }

    public func run() async throws {
        var lastWarning: Date?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let expiring = refresh()
            if !expiring.isEmpty, lastWarning.map({ Date().timeIntervalSince($0) > 86_400 }) ?? true {
                lastWarning = Date()
                logger.warning(
                    "certificate(s) expire within 30 days: renew them in the Alipay console (app) or fetch Alipay's new one",
                    metadata: ["certificates": "\(expiring.joined(separator: ","))"])
            }
            let interval = interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
