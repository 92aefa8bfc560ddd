import Testing

@testable import NotifyCore

@Suite("Backoff")
struct BackoffTests {
    @Test("the ceiling doubles from the base and stops at the cap")
    func ceilings() {
        let backoff = Backoff(base: 5, cap: 300)
        #expect((1...8).map { backoff.ceiling(afterAttempt: $0) } == [5, 10, 20, 40, 80, 160, 300, 300])
        #expect(backoff.ceiling(afterAttempt: 10_000) == 300)
        #expect(backoff.ceiling(afterAttempt: 0) == 5)
    }

    @Test("full jitter: the injected random picks from 0 ... ceiling, and the result stays in bounds")
    func jitter() {
        let low = Backoff(base: 5, cap: 300) { $0.lowerBound }
        let high = Backoff(base: 5, cap: 300) { $0.upperBound }
        let broken = Backoff(base: 5, cap: 300) { _ in 1e9 }
        for attempt in 1...12 {
            #expect(low.delay(afterAttempt: attempt) == 0)
            #expect(high.delay(afterAttempt: attempt) == min(300, 5 * Double(1 << (attempt - 1))))
            #expect(broken.delay(afterAttempt: attempt) <= 300)
        }
        let real = Backoff(base: 2, cap: 60)
        for attempt in 1...40 {
            let delay = real.delay(afterAttempt: attempt)
            #expect(delay >= 0 && delay <= real.ceiling(afterAttempt: attempt))
        }
    }

    @Test("a cap below the base is raised to the base")
    func capBelowBase() {
        #expect(Backoff(base: 10, cap: 1).ceiling(afterAttempt: 5) == 10)
    }
}
