/// When an unpaid order is asked about again: a decaying schedule measured from the order's creation.
///
/// The first query comes `worker.reconcileAfterSeconds` after creation, the next ones at 2.5×, 5×, 10×, 20×… that
/// age — with the default 120 s: 2 min, 5 min, 10 min, 20 min, 40 min. Early queries catch a lost notification
/// quickly; later ones grow sparse, so an order the buyer abandoned costs a handful of gateway calls.
public struct ReconcileSchedule: Sendable, Equatable {
    /// Age of an unpaid order at its first query, in seconds.
    public let first: Double

    /// A schedule starting at `first` seconds of age.
    public init(first: Double) {
        self.first = max(1, first)
    }

    /// The ages (seconds since creation) of the queries, in order, up to `limit`.
    public func ages(upTo limit: Double) -> [Double] {
        var result: [Double] = []
        var age = first
        var index = 0
        while age <= limit && result.count < 64 {
            result.append(age)
            index += 1
            age = first * (index == 1 ? 2.5 : 2.5 * Double(1 << (index - 1)))
        }
        return result
    }

    /// The first scheduled age strictly after `age` (seconds since creation); `nil` for "before the first one".
    public func next(after age: Double?) -> Double {
        guard let age else { return first }
        if age < first { return first }
        // 2.5 × 2^k × first > age
        var candidate = first * 2.5
        while candidate <= age { candidate *= 2 }
        return candidate
    }
}
