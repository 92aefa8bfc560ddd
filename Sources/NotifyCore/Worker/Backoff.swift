import NotifyStore

/// Exponential backoff with full jitter: the retry policy of every job, in one place.
///
/// The delay before attempt `n + 1` is uniform in `0 ... min(cap, base × 2^(n−1))` ("full jitter", which spreads
/// a burst of failures — a gateway outage — over the whole window instead of retrying them in lock-step).
///
/// ```swift
/// let backoff = Backoff(base: 5, cap: 3600)
/// backoff.delay(afterAttempt: 1)   // 0 ... 5 s
/// backoff.delay(afterAttempt: 4)   // 0 ... 40 s
/// ```
public struct Backoff: Sendable {
    /// The ceiling of the first delay, in seconds.
    public let base: Double
    /// The largest ceiling any delay may have, in seconds.
    public let cap: Double
    /// Picks a number in the range; tests inject a fixed one.
    public let random: @Sendable (ClosedRange<Double>) -> Double

    /// A policy from a base and a cap in seconds; `random` defaults to the system generator.
    public init(base: Double, cap: Double, random: @escaping @Sendable (ClosedRange<Double>) -> Double = { Double.random(in: $0) }) {
        self.base = max(0, base)
        self.cap = max(self.base, cap)
        self.random = random
    }

    /// The upper bound of the delay after the `attempt`-th failure (1-based), before jitter.
    public func ceiling(afterAttempt attempt: Int) -> Double {
        let exponent = Double(max(0, min(attempt - 1, 62)))
        let grown = base * Double.exponent2(exponent)
        return grown.isFinite ? min(cap, grown) : cap
    }

    /// The delay in seconds before the next attempt, after the `attempt`-th failure (1-based).
    public func delay(afterAttempt attempt: Int) -> Double {
        let ceiling = ceiling(afterAttempt: attempt)
        let value = random(0...ceiling)
        // A misbehaving injected generator must not break the bounds.
        return min(ceiling, max(0, value))
    }
}

extension Double {
    /// 2 raised to `exponent` (a whole number here), without Foundation's `pow`.
    fileprivate static func exponent2(_ exponent: Double) -> Double {
        Double(sign: .plus, exponent: Int(exponent), significand: 1)
    }
}

/// How one kind of job is retried: the delay before each new attempt and the attempt that is the last.
public struct RetryPolicy: Sendable {
    /// Delay before a retry.
    public var backoff: Backoff
    /// The claim that reaches this count is the last; a retryable failure then goes dead.
    public var maxAttempts: Int

    /// A policy from its parts.
    public init(backoff: Backoff, maxAttempts: Int) {
        self.backoff = backoff
        self.maxAttempts = max(1, maxAttempts)
    }
}

/// The retry policy of each job kind: a kind without its own policy uses the default (`worker.retryBaseSeconds`,
/// `worker.retryMaxSeconds`, `worker.maxAttempts`). A feature that adds a kind with another schedule — outbound
/// deliveries follow Standard Webhooks' — registers it here instead of bending the global one.
public struct RetryPolicies: Sendable {
    /// The policy of kinds not listed in `byKind`.
    public var `default`: RetryPolicy
    /// Policies of their own.
    public var byKind: [JobKind: RetryPolicy]

    /// Policies from a default and per-kind exceptions.
    public init(default: RetryPolicy, byKind: [JobKind: RetryPolicy] = [:]) {
        self.default = `default`
        self.byKind = byKind
    }

    /// The policy that applies to `kind`.
    public func policy(for kind: JobKind) -> RetryPolicy {
        byKind[kind] ?? self.default
    }
}
