import Foundation

extension Duration {
    /// The duration in (fractional) seconds, for APIs that take a `TimeInterval` (lease ends, backoff, timeouts).
    public var seconds: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
