/// Counts of job outcomes since the last summary: the worker logs them periodically instead of serving `/metrics`.
public actor WorkerStats {
    private var counts: [JobReport.Outcome: Int] = [:]
    private var totals: [JobReport.Outcome: Int] = [:]

    /// Empty counts.
    public init() {}

    /// Counts one finished run.
    public func record(_ outcome: JobReport.Outcome) {
        counts[outcome, default: 0] += 1
        totals[outcome, default: 0] += 1
    }

    /// Counts many finished runs.
    public func record(_ outcomes: [JobReport.Outcome]) {
        for outcome in outcomes { record(outcome) }
    }

    /// The counts since the previous call, and resets them.
    public func takeInterval() -> [JobReport.Outcome: Int] {
        defer { counts = [:] }
        return counts
    }

    /// The counts since start.
    public var total: [JobReport.Outcome: Int] { totals }
}
