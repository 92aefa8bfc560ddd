import Synchronization

/// A token bucket per client address: `perSecond` requests a second, bursts up to one second's worth.
///
/// Buckets live in memory (one receiver process); full buckets are dropped when the table grows, so a scan
/// from many addresses cannot grow memory without bound.
public final class RateLimiter: Sendable {
    struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    /// Requests allowed per second per client.
    public let perSecond: Int
    let maximumClients: Int
    let clock: @Sendable () -> ContinuousClock.Instant
    private let buckets = Mutex<[String: Bucket]>([:])

    /// A limiter allowing `perSecond` requests a second per client (must be > 0); `clock` is replaced in tests.
    public init(
        perSecond: Int, maximumClients: Int = 10_000, clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        precondition(perSecond > 0, "a rate limit of 0 means no limiter")
        self.perSecond = perSecond
        self.maximumClients = maximumClients
        self.clock = clock
    }

    /// Takes one token for `client` at the limiter's clock's now; false when its bucket is empty.
    public func allow(_ client: String) -> Bool {
        allow(client, now: clock())
    }

    /// Takes one token for `client` at `now`; false when its bucket is empty.
    public func allow(_ client: String, now: ContinuousClock.Instant) -> Bool {
        let capacity = Double(perSecond)
        return buckets.withLock { buckets in
            var bucket = buckets[client] ?? Bucket(tokens: capacity, updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(capacity, bucket.tokens + max(0, seconds) * capacity)
            bucket.updated = now
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            buckets[client] = bucket
            if buckets.count > maximumClients {
                // Anyone idle for a second has a full bucket again and loses nothing by being forgotten.
                buckets = buckets.filter { now - $0.value.updated < .seconds(1) }
            }
            return allowed
        }
    }
}
