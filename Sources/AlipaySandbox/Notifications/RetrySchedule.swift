/// Alipay's re-send schedule for a notification that was not answered `success`.
///
/// Alipay sends the same notification (same `notify_id`) up to 8 times in about 25 hours: the first attempt
/// at once, then 4m, 10m, 10m, 1h, 2h, 6h and 15h after each failed attempt. `timeScale` divides every delay,
/// so `timeScale: 10_000` turns 4 minutes into 24 ms and a test runs the whole schedule in seconds.
public struct RetrySchedule: Sendable, Equatable {
    /// The delays Alipay waits after failed attempt 1, 2, … 7 before the next one.
    public static let alipayIntervals: [Duration] = [
        .seconds(4 * 60), .seconds(10 * 60), .seconds(10 * 60), .seconds(60 * 60),
        .seconds(2 * 60 * 60), .seconds(6 * 60 * 60), .seconds(15 * 60 * 60),
    ]

    /// Unscaled delays after each failed attempt; there is one attempt more than there are intervals.
    public let intervals: [Duration]
    /// Divides every delay: 1 is real time.
    public let timeScale: Double

    /// Creates a schedule; a `timeScale` of 1 is Alipay's real timing.
    public init(timeScale: Double = 1, intervals: [Duration] = RetrySchedule.alipayIntervals) {
        precondition(timeScale > 0, "time scale must be positive")
        self.intervals = intervals
        self.timeScale = timeScale
    }

    /// How many attempts a notification gets in total (8 with Alipay's intervals).
    public var maxAttempts: Int { intervals.count + 1 }

    /// The scaled delay before the attempt that follows failed attempt `attempt` (1-based); nil when it was the last.
    public func delay(afterFailedAttempt attempt: Int) -> Duration? {
        guard attempt >= 1, attempt <= intervals.count else { return nil }
        return scaled(intervals[attempt - 1])
    }

    /// Divides a real-time duration by the time scale.
    public func scaled(_ duration: Duration) -> Duration {
        timeScale == 1 ? duration : duration / timeScale
    }
}

extension Duration {
    /// The duration in seconds as a `Double`, for `Date` arithmetic.
    var timeInterval: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
