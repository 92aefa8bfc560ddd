import Synchronization

/// Fetches the Alipay certificate a notification names when this process does not hold it: after Alipay rotates its
/// certificate, notifications are signed with the new one (and say so in `alipay_cert_sn`) before anyone installs it.
///
/// The certificate is downloaded and checked exactly as for a gateway answer (``AlipayClient/adoptRotatedCertificate(sn:)``:
/// the SN asked for, the configured certificate's subject and issuer, chained to `alipay.rootCertFile`, the download's
/// answer verified with it), then shared through the client's keyring with every verifier of the process. A
/// notification's SN comes from anyone who can POST to `notify_url`, so downloads are bounded: one attempt per SN a
/// minute (the keyring's memory of failures) and at most one download per `minimumInterval` in all.
public final class NotificationCertificateAdopter: Sendable {
    /// The client whose keyring the adopted certificate joins.
    public let client: AlipayClient
    /// The least time between two downloads this adopter starts.
    public let minimumInterval: Duration
    private let lastAttempt = Mutex<ContinuousClock.Instant?>(nil)

    /// An adopter over `client` (certificate mode; otherwise it never adopts anything).
    public init(client: AlipayClient, minimumInterval: Duration = .seconds(5)) {
        self.client = client
        self.minimumInterval = minimumInterval
    }

    /// Why a certificate was not adopted.
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        /// In words, for the log and the job's error.
        public let description: String
    }

    /// Makes the certificate `sn` one the keyring holds (nothing to do when it already does).
    public func adopt(sn: String) async -> Result<AlipayCertificate, Refusal> {
        guard let keyring = client.configuration.certificates else {
            return .failure(Refusal(description: "alipay_cert_sn \(sn), but certificate mode is not configured"))
        }
        if let known = keyring.certificate(sn: sn) { return .success(known) }
        guard sn.utf8.count == 32, sn.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            return .failure(Refusal(description: "alipay_cert_sn is not 32 lowercase hex digits"))
        }
        if let recent = keyring.recentFailure(sn: sn) {
            return .failure(Refusal(description: "Alipay certificate \(sn) could not be adopted a moment ago: \(recent)"))
        }
        let now = ContinuousClock.now
        let mayDownload = lastAttempt.withLock { last -> Bool in
            if let last, now - last < minimumInterval { return false }
            last = now
            return true
        }
        guard mayDownload else {
            return .failure(Refusal(description: "another certificate download started less than \(minimumInterval) ago; Alipay sends the notification again"))
        }
        switch await client.adoptRotatedCertificate(sn: sn) {
        case .success(let certificate):
            return .success(certificate)
        case .failure(let failure):
            keyring.recordFailure(sn: sn, reason: failure.reason)
            return .failure(Refusal(description: failure.reason))
        }
    }
}
