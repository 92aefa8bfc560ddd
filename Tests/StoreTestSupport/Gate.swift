import Synchronization

/// A one-way gate: tasks wait at it until it opens (or their time is up); once open it stays open.
///
/// A fake merchant or gateway holds an answer with it, so "never answered in time" does not depend on how fast the
/// machine is, and the held answer is let go when the test ends instead of delaying a server's shutdown. Waiting
/// suspends the task (a blocking wait would park one of the cooperative pool's two threads on this machine).
public final class Gate: Sendable {
    private struct State {
        var isOpen = false
        var nextId = 0
        var arrivals = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Whether it is open.
    public var isOpen: Bool { state.withLock { $0.isOpen } }

    /// How many waits began so far (a test's sign that the held call has arrived).
    public var arrivals: Int { state.withLock { $0.arrivals } }

    /// Opens the gate and lets every waiter through.
    public func open() {
        let waiters = state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when the gate opens, when `limit` has passed, or when the task is cancelled, whichever comes first.
    public func wait(atMost limit: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: limit) }
            group.addTask { await self.wait() }
            await group.next()
            group.cancelAll()
        }
    }

    /// Returns when the gate opens or the task is cancelled.
    public func wait() async {
        let id = state.withLock { state in
            defer { state.nextId += 1 }
            state.arrivals += 1
            return state.nextId
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.isOpen || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
