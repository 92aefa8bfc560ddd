import Foundation
import Logging
import NotifyStore
import Synchronization

/// Keeps refused notification bodies in the store so that `notifyctl verify --rejected ID` can say why one failed —
/// the receiver never logs bodies.
///
/// Bounded twice: at most `perSecond` records a second (a flood of forgeries costs a few writes, never one per
/// request, and never delays the answer: the write runs beside it), and only the newest `keep` stay in the store.
public final class RejectionLog: Sendable {
    /// How many refused bodies the store keeps.
    public static let defaultKeep = 500
    /// How many a second are recorded at most.
    public static let defaultPerSecond = 5

    let store: any Store
    let keep: Int
    let perSecond: Int
    private let window = Mutex<(second: Int64, count: Int)>((0, 0))

    /// A log writing to `store`.
    public init(store: any Store, keep: Int = defaultKeep, perSecond: Int = defaultPerSecond) {
        self.store = store
        self.keep = keep
        self.perSecond = perSecond
    }

    /// Records one refused body unless this second's quota is used up. Returns at once; the write happens beside.
    func record(body: [UInt8], reason: String, detail: String, logger: Logger) {
        let second = Int64(Date().timeIntervalSince1970)
        let admitted = window.withLock { window -> Bool in
            if window.second != second { window = (second, 0) }
            guard window.count < perSecond else { return false }
            window.count += 1
            return true
        }
        guard admitted else { return }
        let rejected = RejectedNotification(
            receivedAt: Date(), reason: reason, detail: detail, body: NotificationEndpoint.storableBody(body))
        let (store, keep) = (store, keep)
        Task {
            do {
                try await store.recordRejected(rejected, keep: keep)
            } catch {
                logger.debug("refused body not kept for diagnosis", metadata: ["error": "\(error)"])
            }
        }
    }
}
