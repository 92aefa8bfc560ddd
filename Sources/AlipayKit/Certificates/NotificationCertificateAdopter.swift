import Synchronization

/// Fetches the Alipay certificate a notification names when this process does not hold it: after Alipay rotates its
/// certificate, notifications are signed with the new one (and say so in `alipay_cert_sn`) before anyone installs it.
///
/// The certificate is downloaded and checked exactly as for a gateway answer (``AlipayClient/adoptRotatedCertificate(sn:)``:
/// the SN asked for, the configured certificate's subject and issuer, chained to `alipay.rootCertFile`, the download's
/// answer verified with it), then shared through the client's keyring with every verifier of the process.
///
/// A notification's SN is anyone's to write, so downloads are rationed: at most one per `minimumInterval`, and the
/// SN downloaded is the unknown one **seen most often** lately, not whichever arrived last. Alipay's real SN comes
/// back on every notification (and every re-delivery) after a rotation; a stream of forged random SNs, each seen
/// once, cannot keep it from its turn. An SN whose download failed is not tried again for an hour.
public final class NotificationCertificateAdopter: Sendable {
    /// The client whose keyring the adopted certificate joins.
    public let client: AlipayClient
    /// The least time between two downloads this adopter starts.
    public let minimumInterval: Duration
    private let state = Mutex(State())
    /// The clock (tests move it).
    let now: @Sendable () -> ContinuousClock.Instant

    private struct State {
        var lastAttempt: ContinuousClock.Instant?
        /// Unknown SNs seen recently: how often, and when last.
        var sightings: [String: (count: Int, last: ContinuousClock.Instant)] = [:]
        /// SNs whose download failed, and when.
        var failed: [String: ContinuousClock.Instant] = [:]
    }

    /// How long a sighting counts.
    static let sightingMemory: Duration = .seconds(600)
    /// How long a failed SN is not downloaded again.
    static let failureMemory: Duration = .seconds(3600)
    /// The most SNs remembered (sightings and failures each).
    static let maximumRemembered = 1024

    /// An adopter over `client` (certificate mode; otherwise it never adopts anything).
    public convenience init(client: AlipayClient, minimumInterval: Duration = .seconds(5)) {
        self.init(client: client, minimumInterval: minimumInterval, now: { ContinuousClock.now })
    }

    init(client: AlipayClient, minimumInterval: Duration, now: @escaping @Sendable () -> ContinuousClock.Instant) {
        self.client = client
        self.minimumInterval = minimumInterval
        self.now = now
    }

    /// Why a certificate was not adopted.
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        /// In words, for the log and the job's error.
        public let description: String
    }

    /// Makes the certificate `sn` one the keyring holds (nothing to do when it already does), when its turn comes.
    public func adopt(sn: String) async -> Result<AlipayCertificate, Refusal> {
        guard let keyring = client.configuration.certificates else {
            return .failure(Refusal(description: "alipay_cert_sn \(sn), but certificate mode is not configured"))
        }
        if let known = keyring.certificate(sn: sn) { return .success(known) }
        guard CertificateSN.isWellFormed(sn) else { return .failure(Refusal(description: "alipay_cert_sn is not 32 lowercase hex digits")) }
        let now = self.now()
        let candidate = state.withLock { state -> String? in
            state.sightings = state.sightings.filter { now - $0.value.last < Self.sightingMemory }
            state.failed = state.failed.filter { now - $0.value < Self.failureMemory }
            if state.failed[sn] == nil {
                if state.sightings[sn] == nil, state.sightings.count >= Self.maximumRemembered,
                    let oldest = state.sightings.min(by: { $0.value.last < $1.value.last })
                {
                    state.sightings[oldest.key] = nil
                }
                state.sightings[sn] = ((state.sightings[sn]?.count ?? 0) + 1, now)
            }
            if let last = state.lastAttempt, now - last < minimumInterval { return nil }
            // The unknown SN seen most often (the latest among equals).
            guard let best = state.sightings.max(by: { ($0.value.count, $0.value.last) < ($1.value.count, $1.value.last) }) else { return nil }
            state.lastAttempt = now
            state.sightings[best.key] = nil
            return best.key
        }
        guard let candidate else {
            return .failure(Refusal(description: "Alipay certificate \(sn) not fetched now (one download per \(minimumInterval) at most); Alipay sends the notification again"))
        }
        switch await client.adoptRotatedCertificate(sn: candidate) {
        case .success:
            break
        case .failure(let failure):
            keyring.recordFailure(sn: candidate, reason: failure.reason)
            state.withLock { state in
                if state.failed.count >= Self.maximumRemembered { state.failed.removeAll() }
                state.failed[candidate] = now
            }
            if candidate == sn { return .failure(Refusal(description: failure.reason)) }
        }
        if let adopted = keyring.certificate(sn: sn) { return .success(adopted) }
        return .failure(Refusal(description: "Alipay certificate \(sn) not fetched yet (its turn comes by how often it is seen); Alipay sends the notification again"))
    }
}
