/// An async mutual exclusion per key: the worker runs at most one job per order at a time.
///
/// The store already makes each order change conditional (the order is read for update and `transition` checks the
/// status and refunded amount it read); serialising per order in the worker on top keeps two jobs of the same order from
/// racing through their gateway calls and then retrying each other's conflicts. Waiters are served in order.
public actor KeyedLock {
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    /// An empty lock table.
    public init() {}

    /// Waits until `key` is free, then holds it.
    public func lock(_ key: String) async {
        if waiters[key] == nil {
            waiters[key] = []
            return
        }
        await withCheckedContinuation { continuation in
            waiters[key, default: []].append(continuation)
        }
    }

    /// Releases `key`, handing it to the next waiter if there is one.
    public func unlock(_ key: String) {
        guard var queue = waiters[key] else { return }
        if queue.isEmpty {
            waiters[key] = nil
        } else {
            let next = queue.removeFirst()
            waiters[key] = queue
            next.resume()
        }
    }

    /// Runs `body` while holding `key`.
    public func withLock<T: Sendable>(_ key: String, _ body: @Sendable () async throws -> T) async rethrows -> T {
        await lock(key)
        do {
            let value = try await body()
            unlock(key)
            return value
        } catch {
            unlock(key)
            throw error
        }
    }
}
