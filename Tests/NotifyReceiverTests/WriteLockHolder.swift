import Foundation
import GRDB

/// Another connection holding SQLite's write lock (`BEGIN IMMEDIATE`) on a database file until released.
///
/// While it holds the lock, the receiver's commit waits for its busy timeout and then fails: the situation
/// invariant 1 is about ("locked past the timeout ⇒ failure, nothing stored").
final class WriteLockHolder: @unchecked Sendable {
    private let release = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let queue: DatabaseQueue

    /// Opens a separate connection to `path`.
    init(path: String) throws {
        queue = try DatabaseQueue(path: path)
    }

    /// Takes the write lock on a thread of its own; returns once the lock is held.
    func acquire() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            Thread.detachNewThread { [self] in
                do {
                    try queue.inDatabase { db in
                        try db.execute(sql: "BEGIN IMMEDIATE")
                        continuation.resume()
                        release.wait()
                        try? db.execute(sql: "ROLLBACK")
                    }
                } catch {
                    continuation.resume(throwing: error)
                }
                finished.signal()
            }
        }
    }

    /// Releases the lock and waits until the connection rolled back.
    func releaseLock() async {
        release.signal()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { [finished] in
                finished.wait()
                continuation.resume()
            }
        }
    }
}
