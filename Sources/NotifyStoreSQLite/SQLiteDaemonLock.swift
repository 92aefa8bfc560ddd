import Foundation
import NotifyStore

#if canImport(Glibc)
    import Glibc
#endif

/// An advisory lock beside the database file (`PATH.lock`): the daemons hold it shared while they run, and
/// `notifyctl db restore` asks for it exclusively — so a restore never swaps the file under a running receiver or
/// worker. The kernel drops the lock when the process dies, even by `kill -9`: a crashed daemon never blocks a restore.
public final class SQLiteDaemonLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock, shared (a daemon) or exclusive (a restore). An exclusive lock that cannot be had at once throws
    /// ``StoreError/busy(_:)``; a shared one waits only for a restore in progress.
    public init(databasePath: String, exclusive: Bool) throws {
        let lockPath = databasePath + ".lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw StoreError.cannotOpen(location: "sqlite:\(databasePath)", reason: "cannot open \(lockPath): \(String(cString: strerror(errno)))")
        }
        let operation = exclusive ? LOCK_EX | LOCK_NB : LOCK_SH
        guard flock(descriptor, operation) == 0 else {
            let code = errno
            close(descriptor)
            if code == EWOULDBLOCK {
                throw StoreError.busy(
                    "a daemon (notify-receiver or notify-worker) is using \(databasePath); stop them first "
                        + "(systemctl stop alipay-notify-receiver alipay-notify-worker)")
            }
            throw StoreError.cannotOpen(location: "sqlite:\(databasePath)", reason: "cannot lock \(lockPath): \(String(cString: strerror(code)))")
        }
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }
}
