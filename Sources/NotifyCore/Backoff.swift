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
