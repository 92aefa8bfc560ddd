import Synchronization

/// One fault that replaces or spoils a gateway answer.
public enum GatewayFault: String, Sendable, CaseIterable {
    /// HTTP 500, request not processed.
    case http500 = "500"
    /// Processed, answered after `slowSeconds`.
    case slow
    /// Processed, answered with a signature that does not verify.
    case badSign = "badsign"
    /// Processed, answered with malformed JSON.
    case garbage
    /// `20000 isp.unknow-error`, request not processed.
    case unknownError = "unknown"
}

/// Draws the faults to inject from a seedable generator, so a seeded run always injects the same faults.
///
/// Shared by the gateway handlers and the notification dispatcher; a `Mutex` keeps the draws in one sequence.
public final class FaultInjector: Sendable {
    private struct State {
        var configuration: FaultConfiguration
        var generator: SeededGenerator
        var dropsRemaining: Int
    }

    private let state: Mutex<State>

    /// Starts with `configuration`, seeded from its `seed` (or the system when nil).
    public init(configuration: FaultConfiguration = FaultConfiguration()) {
        state = Mutex(
            State(
                configuration: configuration,
                generator: configuration.seed.map(SeededGenerator.init(seed:)) ?? SeededGenerator(),
                dropsRemaining: configuration.dropFirst))
    }

    /// The configuration in force.
    public var configuration: FaultConfiguration {
        state.withLock { $0.configuration }
    }

    /// How many of the next delivery attempts will still be dropped.
    public var dropsRemaining: Int {
        state.withLock { $0.dropsRemaining }
    }

    /// Replaces the configuration; a seed restarts the random sequence, and the drop counter restarts at `dropFirst`.
    public func update(_ configuration: FaultConfiguration) {
        state.withLock { state in
            state.configuration = configuration
            if let seed = configuration.seed { state.generator = SeededGenerator(seed: seed) }
            state.dropsRemaining = configuration.dropFirst
        }
    }

    /// The fault for one gateway answer, or nil for a faithful answer (one draw, cumulative fractions).
    public func gatewayFault() -> GatewayFault? {
        state.withLock { state in
            let c = state.configuration
            let total = c.http500 + c.slow + c.badSign + c.garbage + c.unknownError
            guard total > 0 else { return nil }
            let draw = state.generator.unit()
            var threshold = 0.0
            for (fault, fraction) in [
                (GatewayFault.http500, c.http500), (.slow, c.slow), (.badSign, c.badSign), (.garbage, c.garbage),
                (.unknownError, c.unknownError),
            ] {
                threshold += fraction
                if fraction > 0, draw < threshold { return fault }
            }
            return nil
        }
    }

    /// How long a `slow` answer waits.
    public var slowDelay: Duration {
        .milliseconds(Int64(configuration.slowSeconds * 1000))
    }

    /// Whether this delivery attempt is sent twice.
    public func shouldDuplicate() -> Bool { draw(\.duplicate) }
    /// Whether this payment's `TRADE_FINISHED` notification goes out before its `TRADE_SUCCESS` one.
    public func shouldReorder() -> Bool { draw(\.reorder) }
    /// Whether a forged copy precedes this notification.
    public func shouldForge() -> Bool { draw(\.forged) }
    /// Whether this notification goes out in GBK.
    public func shouldUseGBK() -> Bool { draw(\.gbk) }
    /// Whether this signed gateway answer writes `/` as `\/`.
    public func shouldEscapeSlashes() -> Bool { draw(\.escapedSlash) }

    /// Whether this statement download gets a planted discrepancy.
    public func plantsStatementMismatch() -> Bool { draw(\.statement) }

    /// Whether this delivery attempt is dropped; counts down `dropFirst`.
    public func takeDrop() -> Bool {
        state.withLock { state in
            guard state.dropsRemaining > 0 else { return false }
            state.dropsRemaining -= 1
            return true
        }
    }

    private func draw(_ fraction: KeyPath<FaultConfiguration, Double> & Sendable) -> Bool {
        state.withLock { state in
            let value = state.configuration[keyPath: fraction]
            guard value > 0 else { return false }
            return value >= 1 || state.generator.unit() < value
        }
    }
}
